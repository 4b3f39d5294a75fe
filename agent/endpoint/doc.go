// Package endpoint is the agent's HTTPS endpoint: container logs, exec and
// image import/list over a Backend the agent provides. Masters call it when
// they proxy `skiff logs`, `skiff exec` and `skiff image` to the pod's node.
//
// Routes (the paths are built with LogsPath, ExecPath and ImagesPath):
//
//	GET  /pods/{namespace}/{pod}/containers/{container}/logs  text/plain, streamed
//	POST /pods/{namespace}/{pod}/containers/{container}/exec  frames (frames.go)
//	POST /images                                              tar in, JSON []Image out
//	GET  /images                                              JSON []Image
//
// Errors before the first byte of an answer are Kubernetes Status objects,
// so that a master can pass them through to the client unchanged.
//
// The package imports nothing of skiff but apis/pki: apis/server and
// apis/client use its paths and its frame codec, so it must never import
// them.
package endpoint
