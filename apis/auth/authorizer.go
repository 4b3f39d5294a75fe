package auth

import (
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
)

// Attributes describe what a request wants to do.
type Attributes struct {
	// Verb is get, list, watch, create, update, patch or delete. Reading a
	// pod's log is get on pods/log; running a command in it is create on
	// pods/exec.
	Verb string
	// Group and Resource (plural) name the kind; empty for non-resource
	// requests, which set Path instead.
	Group, Resource string
	Subresource     string
	Namespace, Name string
	// Internal marks skiff's machinery kinds (members, tokens, users).
	Internal   bool
	Namespaced bool
	Path       string
}

func (a Attributes) String() string {
	if a.Resource == "" {
		return fmt.Sprintf("%s %s", a.Verb, a.Path)
	}
	what := a.Resource
	if a.Subresource != "" {
		what += "/" + a.Subresource
	}
	if a.Name != "" {
		what += fmt.Sprintf(" %q", a.Name)
	}
	if a.Namespace != "" {
		what += fmt.Sprintf(" in namespace %q", a.Namespace)
	} else if a.Namespaced {
		what += " in all namespaces"
	}
	return a.Verb + " " + what
}

func (a Attributes) readOnly() bool {
	return a.Verb == "get" || a.Verb == "list" || a.Verb == "watch"
}

// Graph answers what the node rules need to know about pods.
type Graph interface {
	// PodsOnNode returns the pods bound to a node.
	PodsOnNode(node string) []*corev1.Pod
	// Pod returns a pod, or nil.
	Pod(namespace, name string) *corev1.Pod
	// PersistentVolume returns a volume, or nil.
	PersistentVolume(name string) *corev1.PersistentVolume
}

// Authorizer applies the roles.
type Authorizer struct {
	Graph Graph
}

// ForbiddenError says who may not do what, and why.
type ForbiddenError struct {
	User   User
	Attrs  Attributes
	Reason string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("user %s may not %s: %s", e.User, e.Attrs, e.Reason)
}

// Authorize returns nil when u may do a, else a *ForbiddenError.
func (z *Authorizer) Authorize(u User, a Attributes) error {
	deny := func(reason string) error { return &ForbiddenError{User: u, Attrs: a, Reason: reason} }
	if u.Role == RoleAdmin && u.Namespace == "" || u.Role == RoleServer {
		return nil
	}
	if a.Resource == "" {
		return z.nonResource(u, a, deny)
	}
	if u.Role == RoleNode {
		return z.node(u, a, deny)
	}
	if a.Internal {
		return deny("only admins manage the cluster's members, tokens and users")
	}
	if u.Namespace != "" {
		switch {
		case a.Namespaced && a.Namespace != u.Namespace:
			return deny(fmt.Sprintf("the role applies only in namespace %q", u.Namespace))
		case !a.Namespaced && !(a.Resource == "namespaces" && a.readOnly() && a.Name == u.Namespace):
			return deny(fmt.Sprintf("the role applies only in namespace %q", u.Namespace))
		}
	}
	switch u.Role {
	case RoleAdmin:
		return nil
	case RoleEdit:
		if a.Namespaced {
			return nil
		}
		if a.Resource == "namespaces" && a.readOnly() {
			return nil
		}
		return deny("the edit role covers namespaced resources only")
	case RoleView:
		if a.Resource == "pods" && a.Subresource == "exec" {
			return deny("the view role may read pods' logs but not run commands in them")
		}
		if !a.readOnly() {
			return deny("the view role only reads")
		}
		if a.Resource == "secrets" && a.Group == "" {
			return deny("the view role does not read secrets")
		}
		return nil
	}
	return deny("unknown role " + u.Role)
}

func (z *Authorizer) nonResource(u User, a Attributes, deny func(string) error) error {
	p := a.Path
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/") || p == "/apis" || strings.HasPrefix(p, "/apis/") || p == "/version":
		return nil // discovery
	case p == "/cluster/v1/renew":
		return nil // the endpoint renews the caller's own identity only
	case p == "/cluster/v1/members" && a.Verb == "get" && u.Role != RoleNode && u.Namespace == "":
		return nil
	case p == "/cluster/v1/images" && u.Role != RoleNode && u.Namespace == "":
		// Images are the nodes' own: any cluster-wide user lists them;
		// edit and admin import them.
		if a.Verb == "get" || a.Verb == "create" && (u.Role == RoleEdit || u.Role == RoleAdmin) {
			return nil
		}
		return deny("only the edit and admin roles import images")
	}
	if u.Role == RoleAdmin && u.Namespace == "" {
		return nil
	}
	return deny("only admins may")
}

// node applies the node restriction: a node reads what its own pods need
// and writes only its own status, its pods' status, and events.
func (z *Authorizer) node(u User, a Attributes, deny func(string) error) error {
	if a.Group != "" {
		return deny("nodes use only core resources")
	}
	switch a.Resource {
	case "nodes":
		switch {
		case a.Verb == "list" || a.Verb == "watch":
			return nil
		case a.Name == u.Node:
			if a.Verb == "delete" {
				return deny("a node may not delete its Node")
			}
			return nil
		}
		return deny(fmt.Sprintf("a node may change or read only its own Node %q", u.Node))
	case "pods":
		if a.Subresource == "log" || a.Subresource == "exec" {
			return deny("nodes neither read pods' logs nor run commands in pods through the API")
		}
		if a.readOnly() {
			return nil
		}
		if a.Verb == "create" {
			return deny("nodes do not create pods")
		}
		pod := z.Graph.Pod(a.Namespace, a.Name)
		if pod == nil && a.Verb == "delete" {
			// Already gone (the node's second try at the last step of a
			// graceful deletion): the store answers 404.
			return nil
		}
		if pod == nil || pod.Spec.NodeName != u.Node {
			return deny(fmt.Sprintf("the pod is not bound to node %q", u.Node))
		}
		if a.Subresource == "status" || a.Verb == "delete" {
			return nil
		}
		return deny("a node writes only the status of its pods")
	case "configmaps", "secrets":
		if a.Verb != "get" {
			return deny("a node may only get, by name, the " + a.Resource + " its pods use")
		}
		if z.podsUse(u.Node, a.Resource, a.Namespace, a.Name) {
			return nil
		}
		return deny(fmt.Sprintf("no pod bound to node %q uses it", u.Node))
	case "persistentvolumeclaims":
		if a.Verb != "get" {
			return deny("a node may only get, by name, the claims its pods use")
		}
		if z.podsUse(u.Node, a.Resource, a.Namespace, a.Name) {
			return nil
		}
		return deny(fmt.Sprintf("no pod bound to node %q uses it", u.Node))
	case "persistentvolumes":
		// A node mounts the volumes of its pods' claims and, when one of
		// its local volumes is deleted, removes the directory and then the
		// volume's finalizer: it changes only volumes on itself.
		if a.readOnly() {
			return nil
		}
		if a.Verb == "update" || a.Verb == "patch" {
			if pv := z.Graph.PersistentVolume(a.Name); pv != nil && pv.Labels[apis.LabelVolumeNode] == u.Node {
				return nil
			}
		}
		return deny(fmt.Sprintf("a node may change only the local volumes on it (label %s=%s)", apis.LabelVolumeNode, u.Node))
	case "services", "endpoints":
		if a.readOnly() {
			return nil
		}
		return deny("nodes only read " + a.Resource)
	case "events":
		if a.Verb == "create" || a.Verb == "update" || a.Verb == "patch" || a.readOnly() {
			return nil
		}
		return deny("nodes do not delete events")
	case "namespaces":
		if a.Verb == "get" {
			return nil
		}
	}
	return deny("not something a node needs")
}

// podsUse reports whether a pod bound to node refers to the ConfigMap,
// Secret or claim through a volume, env, envFrom or imagePullSecrets.
func (z *Authorizer) podsUse(node, resource, namespace, name string) bool {
	for _, p := range z.Graph.PodsOnNode(node) {
		if p.Namespace != namespace {
			continue
		}
		if resource == "secrets" {
			for _, s := range p.Spec.ImagePullSecrets {
				if s.Name == name {
					return true
				}
			}
		}
		for _, v := range p.Spec.Volumes {
			if resource == "configmaps" && v.ConfigMap != nil && v.ConfigMap.Name == name ||
				resource == "secrets" && v.Secret != nil && v.Secret.SecretName == name ||
				resource == "persistentvolumeclaims" && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
				return true
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if resource == "configmaps" && s.ConfigMap != nil && s.ConfigMap.Name == name ||
						resource == "secrets" && s.Secret != nil && s.Secret.Name == name {
						return true
					}
				}
			}
		}
		containers := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
		for _, c := range containers {
			for _, ef := range c.EnvFrom {
				if resource == "configmaps" && ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == name ||
					resource == "secrets" && ef.SecretRef != nil && ef.SecretRef.Name == name {
					return true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if resource == "configmaps" && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name ||
					resource == "secrets" && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
					return true
				}
			}
		}
	}
	return false
}
