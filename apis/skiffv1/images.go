package skiffv1

// Image is an image a node holds (what the agent reports).
type Image struct {
	// Ref is the image's name: "skiff.local/echo:1".
	Ref string `json:"ref"`
	// Digest is its content digest: "sha256:...".
	Digest string `json:"digest"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
}

// NodeImages is one node's part of the answer to an image import or list
// (/cluster/v1/images): the images it imported or holds, or why it could
// not answer.
type NodeImages struct {
	Node   string  `json:"node"`
	Images []Image `json:"images"`
	Error  string  `json:"error,omitempty"`
}
