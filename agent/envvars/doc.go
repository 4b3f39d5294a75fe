// Package envvars builds a container's environment the way Kubernetes does:
// envFrom sources first, then env entries in order, a later definition of a
// name replacing an earlier one. Literal values expand $(VAR) references to
// variables defined before them; valueFrom reads ConfigMap and Secret keys,
// the pod's own fields (the downward API) and the container's resources.
//
// ConfigMaps and Secrets come through Source, which the agent implements over
// its API client or watch cache. A problem the pod's author must fix (a
// missing object or key, an unknown field path) is a *ConfigError, which the
// agent shows as the container's waiting reason CreateContainerConfigError;
// any other error (the API cannot be reached) is returned wrapped as is.
package envvars
