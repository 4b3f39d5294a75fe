package resources

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/apis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one kind the API serves.
type Resource struct {
	Group      string // "" for the core group
	Version    string
	Kind       string
	Plural     string
	Singular   string
	ShortNames []string
	Namespaced bool
	// HasStatus: the kind has a /status subresource. The main endpoint then
	// never changes status, /status never changes anything else, and
	// metadata.generation counts spec changes.
	HasStatus bool
	// StatusOnCreate keeps the status a creator sends (a node registers
	// with its status); other kinds start with an empty status.
	StatusOnCreate bool
	// Internal kinds are served only to admins and never listed by -A for
	// other roles; they hold cluster machinery (join tokens, users).
	Internal bool
	// Collected kinds are watched by the garbage collector, as owners and
	// as dependents: they may be deleted with propagationPolicy Orphan or
	// Foreground, whose finalizers the collector carries out.
	Collected bool

	// New returns an empty object of the kind.
	New func() apis.Object
	// Default fills in defaults, as Kubernetes' defaulting does, before
	// validation on create and update.
	Default func(obj apis.Object)
	// Validate checks obj; old is nil on create. Errors name the field.
	Validate func(obj, old apis.Object) field.ErrorList
	// Fields returns the kind's selectable fields besides metadata.name and
	// metadata.namespace (which every kind has).
	Fields func(obj apis.Object) fields.Set
	// WatchIndex is a selectable field the watch hub indexes its watchers
	// by: a watch asking for one value of it (a node's pods:
	// spec.nodeName=n1) is only offered the events of objects with that
	// value, instead of every watcher testing every event.
	WatchIndex string
	// Acted lists the manifest fields skiff acts on, as paths like
	// "spec.containers[].image". Any other field Kubernetes defines is
	// accepted with a warning naming it. A path ending in ".*" covers
	// everything below it.
	Acted []string
}

// GroupVersion returns e.g. "apps/v1" or "v1".
func (r *Resource) GroupVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// GVK returns the kind's group/version/kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// QualifiedPlural returns "deployments.apps" or "pods".
func (r *Resource) QualifiedPlural() string {
	if r.Group == "" {
		return r.Plural
	}
	return r.Plural + "." + r.Group
}

// NewTyped returns an empty object with apiVersion and kind set.
func (r *Resource) NewTyped() apis.Object {
	obj := r.New()
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	return obj
}

// SelectableFields returns every field a field selector may name.
func (r *Resource) SelectableFields(obj apis.Object) fields.Set {
	set := fields.Set{"metadata.name": obj.GetName()}
	if r.Namespaced {
		set["metadata.namespace"] = obj.GetNamespace()
	}
	if r.Fields != nil {
		for k, v := range r.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// Registry finds resources by kind, by plural within a group, or by any name
// a user may type (plural, singular, short name, kind, "plural.group").
type Registry struct {
	ordered []*Resource
	byKind  map[string]*Resource
	byGroup map[string]map[string]*Resource // group -> plural -> resource
	byAlias map[string]*Resource
}

var defaultRegistry = sync.OnceValue(func() *Registry {
	return NewRegistry(
		namespaceResources(),
		nodeResources(),
		podResources(),
		configResources(),
		serviceResources(),
		eventResources(),
		appsResources(),
		autoscalingResources(),
		policyResources(),
		storageResources(),
		memberResources(),
		joinTokenResources(),
		userResources(),
		metricsResources(),
	)
})

// Default returns the registry of every kind skiff serves. It is built once
// and never changes afterwards.
func Default() *Registry { return defaultRegistry() }

// NewRegistry builds a registry from families of resources. It panics on a
// duplicate kind or name, which is a programming error.
func NewRegistry(families ...[]*Resource) *Registry {
	reg := &Registry{
		byKind:  map[string]*Resource{},
		byGroup: map[string]map[string]*Resource{},
		byAlias: map[string]*Resource{},
	}
	for _, family := range families {
		for _, r := range family {
			reg.add(r)
		}
	}
	return reg
}

func (reg *Registry) add(r *Resource) {
	if _, dup := reg.byKind[r.Kind]; dup {
		panic(fmt.Sprintf("resources: kind %s registered twice", r.Kind))
	}
	reg.byKind[r.Kind] = r
	reg.ordered = append(reg.ordered, r)
	if reg.byGroup[r.Group] == nil {
		reg.byGroup[r.Group] = map[string]*Resource{}
	}
	reg.byGroup[r.Group][r.Plural] = r
	aliases := append([]string{r.Plural, r.Singular, strings.ToLower(r.Kind), r.QualifiedPlural()}, r.ShortNames...)
	for i, a := range aliases {
		// A plural another group already uses ("pods" of metrics.k8s.io)
		// is reached by its qualified name only.
		if prev, taken := reg.byAlias[a]; i == 0 && taken && prev.Group != r.Group && r.Group != "" {
			continue
		}
		if prev, dup := reg.byAlias[a]; dup && prev != r {
			panic(fmt.Sprintf("resources: name %q used by %s and %s", a, prev.Kind, r.Kind))
		}
		reg.byAlias[a] = r
	}
}

// All returns every resource in registration order.
func (reg *Registry) All() []*Resource { return reg.ordered }

// ByKind returns the resource of a kind ("Pod").
func (reg *Registry) ByKind(kind string) (*Resource, bool) {
	r, ok := reg.byKind[kind]
	return r, ok
}

// ByPlural returns the resource served at /apis/<group>/<version>/<plural>.
func (reg *Registry) ByPlural(group, version, plural string) (*Resource, bool) {
	r, ok := reg.byGroup[group][plural]
	if !ok || r.Version != version {
		return nil, false
	}
	return r, true
}

// ByGVK returns the resource for an apiVersion and kind as found in a
// manifest.
func (reg *Registry) ByGVK(apiVersion, kind string) (*Resource, error) {
	r, ok := reg.byKind[kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not served by skiff (known kinds: %s)", kind, strings.Join(reg.kinds(), ", "))
	}
	if r.GroupVersion() != apiVersion {
		return nil, fmt.Errorf("kind %s is served as apiVersion %q, not %q", kind, r.GroupVersion(), apiVersion)
	}
	return r, nil
}

// Resolve finds a resource by any name a user may type: "pods", "pod",
// "po", "Pod", "deployments.apps".
func (reg *Registry) Resolve(name string) (*Resource, error) {
	if r, ok := reg.byAlias[strings.ToLower(name)]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("the server doesn't have a resource type %q", name)
}

// Groups returns every group-version served, sorted, core ("v1") first.
func (reg *Registry) Groups() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range reg.ordered {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group == "" || out[j].Group == "" {
			return out[i].Group == ""
		}
		return out[i].String() < out[j].String()
	})
	return out
}

func (reg *Registry) kinds() []string {
	out := make([]string, 0, len(reg.ordered))
	for _, r := range reg.ordered {
		out = append(out, r.Kind)
	}
	sort.Strings(out)
	return out
}

// APIResource describes r in discovery's shape.
func (r *Resource) APIResource() metav1.APIResource {
	verbs := metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	return metav1.APIResource{
		Name:         r.Plural,
		SingularName: r.Singular,
		Namespaced:   r.Namespaced,
		Kind:         r.Kind,
		ShortNames:   r.ShortNames,
		Verbs:        verbs,
	}
}
