package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"

	jsoniter "github.com/json-iterator/go"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var resourcesNone = schema.GroupResource{}

// Patch types.
const (
	MergePatch     = "application/merge-patch+json"
	StrategicPatch = "application/strategic-merge-patch+json"
	JSONPatch      = "application/json-patch+json"
)

// Path returns the API path of a collection (name == "") or an object.
func Path(res *resources.Resource, namespace, name, subresource string) string {
	p := "/api/" + res.Version
	if res.Group != "" {
		p = "/apis/" + res.Group + "/" + res.Version
	}
	if res.Namespaced && namespace != "" {
		p += "/namespaces/" + url.PathEscape(namespace)
	}
	p += "/" + res.Plural
	if name != "" {
		p += "/" + url.PathEscape(name)
		if subresource != "" {
			p += "/" + subresource
		}
	}
	return p
}

// ResourceOf returns the resource of an object, from its apiVersion/kind or
// else from its Go type.
func (c *Client) ResourceOf(obj apis.Object) (*resources.Resource, error) {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
		return c.reg.ByGVK(gvk.GroupVersion().String(), gvk.Kind)
	}
	t := reflect.TypeOf(obj)
	for _, res := range c.reg.All() {
		if reflect.TypeOf(res.New()) == t {
			return res, nil
		}
	}
	return nil, fmt.Errorf("%T is not a kind skiff serves", obj)
}

// fastJSON decodes answers: json-iterator decodes Kubernetes types about
// three times faster than encoding/json, with the same results.
var fastJSON = jsoniter.ConfigCompatibleWithStandardLibrary

func decodeObject(res *resources.Resource, raw []byte) (apis.Object, error) {
	obj := res.New()
	if err := fastJSON.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", res.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return obj, nil
}

func (c *Client) objectCall(ctx context.Context, res *resources.Resource, req request) (apis.Object, error) {
	var raw rawBody // decoded once, below, not validated first
	if err := c.call(ctx, req, &raw); err != nil {
		return nil, err
	}
	return decodeObject(res, raw)
}

// Get reads one object.
func (c *Client) Get(ctx context.Context, res *resources.Resource, namespace, name string) (apis.Object, error) {
	return c.objectCall(ctx, res, request{method: http.MethodGet, path: Path(res, namespace, name, "")})
}

// ListOptions narrow a list or a watch.
type ListOptions struct {
	Namespace     string // "" = all namespaces
	LabelSelector string
	FieldSelector string
	Limit         int64
	Continue      string
	// ResourceVersion "0" allows a stale answer from the master asked;
	// for a watch it is where to resume.
	ResourceVersion string
	// TimeoutSeconds ends a watch after that long.
	TimeoutSeconds int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.FormatInt(o.Limit, 10))
	}
	if o.Continue != "" {
		q.Set("continue", o.Continue)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", strconv.Itoa(o.TimeoutSeconds))
	}
	return q
}

// List is one page of objects.
type List struct {
	Items           []apis.Object
	ResourceVersion string
	Continue        string
}

// List reads one page; with Limit 0, everything.
func (c *Client) List(ctx context.Context, res *resources.Resource, opts ListOptions) (*List, error) {
	var wire struct {
		Metadata metav1.ListMeta   `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := c.call(ctx, request{method: http.MethodGet, path: Path(res, opts.Namespace, "", ""), query: opts.query()}, &wire); err != nil {
		return nil, err
	}
	out := &List{ResourceVersion: wire.Metadata.ResourceVersion, Continue: wire.Metadata.Continue}
	for _, raw := range wire.Items {
		obj, err := decodeObject(res, raw)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, obj)
	}
	return out, nil
}

func (c *Client) write(ctx context.Context, method string, res *resources.Resource, obj apis.Object, sub string, name string) (apis.Object, error) {
	req, err := writeRequest(method, res, obj, sub, name)
	if err != nil {
		return nil, err
	}
	return c.objectCall(ctx, res, req)
}

func writeRequest(method string, res *resources.Resource, obj apis.Object, sub string, name string) (request, error) {
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	body, err := fastJSON.Marshal(obj)
	if err != nil {
		return request{}, err
	}
	return request{method: method, path: Path(res, obj.GetNamespace(), name, sub), body: body, contentType: "application/json"}, nil
}

// writeOnly is write without decoding the stored object the server
// answers with.
func (c *Client) writeOnly(ctx context.Context, method string, res *resources.Resource, obj apis.Object, sub string, name string) error {
	req, err := writeRequest(method, res, obj, sub, name)
	if err != nil {
		return err
	}
	return c.call(ctx, req, nil)
}

// CreateOnly, UpdateOnly and UpdateStatusOnly write as Create, Update and
// UpdateStatus do but leave the stored object the server answers with
// undecoded: for callers that keep their own copy, such as an agent
// reporting its pods and their events (decoding the answers was about a
// tenth of a thousand hollow agents' CPU in skiff-scalebench).
func (c *Client) CreateOnly(ctx context.Context, obj apis.Object) error {
	res, err := c.createResource(obj)
	if err != nil {
		return err
	}
	return c.writeOnly(ctx, http.MethodPost, res, obj, "", "")
}

// UpdateOnly: see CreateOnly.
func (c *Client) UpdateOnly(ctx context.Context, obj apis.Object) error {
	res, err := c.ResourceOf(obj)
	if err != nil {
		return err
	}
	return c.writeOnly(ctx, http.MethodPut, res, obj, "", obj.GetName())
}

// UpdateStatusOnly: see CreateOnly.
func (c *Client) UpdateStatusOnly(ctx context.Context, obj apis.Object) error {
	res, err := c.ResourceOf(obj)
	if err != nil {
		return err
	}
	return c.writeOnly(ctx, http.MethodPut, res, obj, "status", obj.GetName())
}

// Create stores a new object; namespaced objects need metadata.namespace.
func (c *Client) Create(ctx context.Context, obj apis.Object) (apis.Object, error) {
	res, err := c.createResource(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPost, res, obj, "", "")
}

// createResource returns the resource of an object to create, which must
// name its namespace when the kind is namespaced.
func (c *Client) createResource(obj apis.Object) (*resources.Resource, error) {
	res, err := c.ResourceOf(obj)
	if err != nil {
		return nil, err
	}
	if res.Namespaced && obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s %q: metadata.namespace is required", res.Kind, obj.GetName())
	}
	return res, nil
}

// Update replaces an object (not its status). With metadata.resourceVersion
// set it fails with a Conflict when the object changed since.
func (c *Client) Update(ctx context.Context, obj apis.Object) (apis.Object, error) {
	res, err := c.ResourceOf(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPut, res, obj, "", obj.GetName())
}

// UpdateStatus replaces an object's status and nothing else.
func (c *Client) UpdateStatus(ctx context.Context, obj apis.Object) (apis.Object, error) {
	res, err := c.ResourceOf(obj)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, http.MethodPut, res, obj, "status", obj.GetName())
}

// Patch changes an object with a merge, strategic merge or JSON patch;
// status patches the /status subresource.
func (c *Client) Patch(ctx context.Context, res *resources.Resource, namespace, name, patchType string, patch []byte, status bool) (apis.Object, error) {
	sub := ""
	if status {
		sub = "status"
	}
	return c.objectCall(ctx, res, request{method: http.MethodPatch, path: Path(res, namespace, name, sub), body: patch, contentType: patchType})
}

// Delete removes an object and returns it as it was; pre, when not nil,
// must match the stored object.
func (c *Client) Delete(ctx context.Context, res *resources.Resource, namespace, name string, pre *metav1.Preconditions) (apis.Object, error) {
	return c.DeleteWithOptions(ctx, res, namespace, name, metav1.DeleteOptions{Preconditions: pre})
}

// DeleteWithOptions removes an object with Kubernetes' DeleteOptions
// (preconditions, gracePeriodSeconds, propagationPolicy). A pod running on a node is only
// marked: the returned object has a deletionTimestamp, and the pod goes
// once its node has stopped it.
func (c *Client) DeleteWithOptions(ctx context.Context, res *resources.Resource, namespace, name string, opts metav1.DeleteOptions) (apis.Object, error) {
	req := request{method: http.MethodDelete, path: Path(res, namespace, name, "")}
	if opts.Preconditions != nil || opts.GracePeriodSeconds != nil || opts.PropagationPolicy != nil || opts.OrphanDependents != nil {
		opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
		body, err := json.Marshal(opts)
		if err != nil {
			return nil, err
		}
		req.body, req.contentType = body, "application/json"
	}
	return c.objectCall(ctx, res, req)
}

// Event is one watch event. Type ERROR carries a Status instead of an
// object (410 Expired: list again).
type Event struct {
	Type   string
	Object apis.Object
	Status *metav1.Status
}

// Watch is a running watch.
type Watch struct {
	events chan Event
	cancel context.CancelFunc
	err    error
	done   chan struct{}
}

// Events delivers events until the watch ends; then it is closed.
func (w *Watch) Events() <-chan Event { return w.events }

// Stop ends the watch.
func (w *Watch) Stop() { w.cancel() }

// Err says why the watch ended (nil after Stop or a normal end).
func (w *Watch) Err() error {
	<-w.done
	return w.err
}

// Watch streams changes. With ResourceVersion "" or "0" it begins with an
// ADDED event for every object that exists now. A resourceVersion no longer
// in the server's history fails with a 410 Expired StatusError.
func (c *Client) Watch(ctx context.Context, res *resources.Resource, opts ListOptions) (*Watch, error) {
	q := opts.query()
	q.Set("watch", "true")
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.do(ctx, request{method: http.MethodGet, path: Path(res, opts.Namespace, "", ""), query: q, watch: true})
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		defer cancel()
		var buf [64 << 10]byte
		n, _ := resp.Body.Read(buf[:])
		return nil, decodeError(resp.StatusCode, buf[:n])
	}
	w := &Watch{events: make(chan Event, 128), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var wire struct {
				Type   string          `json:"type"`
				Object json.RawMessage `json:"object"`
			}
			if err := fastJSON.Unmarshal(sc.Bytes(), &wire); err != nil {
				w.err = fmt.Errorf("decoding a watch event: %w", err)
				return
			}
			ev := Event{Type: wire.Type}
			if wire.Type == "ERROR" {
				var st metav1.Status
				if err := json.Unmarshal(wire.Object, &st); err != nil {
					w.err = fmt.Errorf("decoding a watch error: %w", err)
					return
				}
				ev.Status = &st
			} else {
				obj, err := decodeObject(res, wire.Object)
				if err != nil {
					w.err = err
					return
				}
				ev.Object = obj
			}
			select {
			case w.events <- ev:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			w.err = err
		}
	}()
	return w, nil
}

// Evict asks the eviction API to delete a pod unless a
// PodDisruptionBudget cannot spare it: then the error is a
// TooManyRequests (apierrors.IsTooManyRequests) saying which budget.
func (c *Client) Evict(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions) error {
	podsRes, _ := c.Registry().ByKind("Pod")
	ev := map[string]any{"apiVersion": "policy/v1", "kind": "Eviction",
		"metadata": map[string]any{"name": name, "namespace": namespace}}
	if opts != nil {
		ev["deleteOptions"] = opts
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodPost, path: Path(podsRes, namespace, name, "eviction"), body: body, contentType: "application/json"}, nil)
}
