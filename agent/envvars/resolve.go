package envvars

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
)

// Resolver builds containers' environments. Source is required; the zero
// Allocatable is valid.
type Resolver struct {
	Source Source
	// Allocatable is the node's allocatable resources, which a
	// resourceFieldRef on a limit the container does not set reads. Nil: 0.
	Allocatable corev1.ResourceList
}

// Env is a container's resolved environment.
type Env struct {
	// Vars are "NAME=value" pairs: each name once, in the order names were
	// first defined, with the value of their last definition.
	Vars []string
	// Skipped lists the envFrom keys left out because they are not valid
	// variable names, e.g. `"1st" from configmap "web-config"`. The agent may
	// record them in an event; they do not stop the container.
	Skipped []string

	values map[string]string
}

// Lookup returns the value of a variable of the environment.
func (e *Env) Lookup(name string) (string, bool) {
	v, ok := e.values[name]
	return v, ok
}

// ExpandAll expands $(VAR) references in a container's command or args with
// this environment, as Kubernetes does before starting it.
func (e *Env) ExpandAll(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Expand(a, e.Lookup)
	}
	return out
}

func (e *Env) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.Vars = append(e.Vars, name)
	}
	e.values[name] = value
}

// Resolve builds the environment of container c of pod: envFrom sources in
// order (each source's keys sorted), then env entries in order; a later
// definition of a name replaces an earlier one. podIP and hostIP feed
// status.podIP and status.hostIP; when empty the pod's status is read.
//
// A missing object or key that is not optional, or a reference skiff cannot
// resolve, is a *ConfigError; an error of the source other than not-found is
// returned wrapped. Each ConfigMap and Secret is read once per call.
func (r *Resolver) Resolve(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP, hostIP string) (*Env, error) {
	rc := &call{
		r: r, ctx: ctx, pod: pod, c: c, podIP: podIP, hostIP: hostIP,
		env:     &Env{values: map[string]string{}},
		cms:     map[string]result[*corev1.ConfigMap]{},
		secrets: map[string]result[*corev1.Secret]{},
	}
	for _, from := range c.EnvFrom {
		if err := rc.envFrom(from); err != nil {
			return nil, err
		}
	}
	for _, ev := range c.Env {
		value, set, err := rc.value(ev)
		if err != nil {
			return nil, err
		}
		if set {
			rc.env.set(ev.Name, value)
		}
	}
	env := rc.env
	for i, name := range env.Vars {
		env.Vars[i] = name + "=" + env.values[name]
	}
	return env, nil
}

// call is one Resolve: its inputs and the objects read so far.
type call struct {
	r             *Resolver
	ctx           context.Context
	pod           *corev1.Pod
	c             *corev1.Container
	podIP, hostIP string
	env           *Env
	cms           map[string]result[*corev1.ConfigMap]
	secrets       map[string]result[*corev1.Secret]
}

// errNilObject is a Source breaking its contract.
var errNilObject = errors.New("source returned neither an object nor an error")

type result[T any] struct {
	obj T
	err error
}

func (rc *call) configMap(name string) (*corev1.ConfigMap, error) {
	res, ok := rc.cms[name]
	if !ok {
		res.obj, res.err = rc.r.Source.ConfigMap(rc.ctx, rc.pod.Namespace, name)
		if res.obj == nil && res.err == nil {
			res.err = errNilObject
		}
		rc.cms[name] = res
	}
	return res.obj, res.err
}

func (rc *call) secret(name string) (*corev1.Secret, error) {
	res, ok := rc.secrets[name]
	if !ok {
		res.obj, res.err = rc.r.Source.Secret(rc.ctx, rc.pod.Namespace, name)
		if res.obj == nil && res.err == nil {
			res.err = errNilObject
		}
		rc.secrets[name] = res
	}
	return res.obj, res.err
}

// readFailed turns a failed read of an object into the outcome: nil when the
// object is missing and optional (the caller skips it), a *ConfigError when
// it is missing and required, the wrapped error otherwise.
func (rc *call) readFailed(varName, kind, name string, optional *bool, err error) error {
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("container %q: get %s %s/%s: %w", rc.c.Name, kind, rc.pod.Namespace, name, err)
	}
	if optional != nil && *optional {
		return nil
	}
	return &ConfigError{
		Container: rc.c.Name, Var: varName,
		Message: fmt.Sprintf("%s %q not found", kind, name),
		Err:     ErrObjectNotFound, Cause: err,
	}
}

// missingKey is the outcome of a key absent from an object that exists.
func (rc *call) missingKey(varName, kind, name, key string, optional *bool) error {
	if optional != nil && *optional {
		return nil
	}
	return &ConfigError{
		Container: rc.c.Name, Var: varName,
		Message: fmt.Sprintf("couldn't find key %s in %s %s/%s", key, kind, rc.pod.Namespace, name),
		Err:     ErrKeyNotFound,
	}
}

func (rc *call) invalid(varName string, err error) error {
	msg := err.Error()
	if varName != "" {
		msg = "env " + varName + ": " + msg
	}
	return &ConfigError{Container: rc.c.Name, Var: varName, Message: msg, Err: ErrInvalidReference, Cause: err}
}

func (rc *call) envFrom(from corev1.EnvFromSource) error {
	var (
		kind, name string
		data       map[string]string
	)
	switch {
	case from.ConfigMapRef != nil:
		kind, name = "configmap", from.ConfigMapRef.Name
		cm, err := rc.configMap(name)
		if err != nil {
			return rc.readFailed("", kind, name, from.ConfigMapRef.Optional, err)
		}
		data = cm.Data
	case from.SecretRef != nil:
		kind, name = "secret", from.SecretRef.Name
		s, err := rc.secret(name)
		if err != nil {
			return rc.readFailed("", kind, name, from.SecretRef.Optional, err)
		}
		data = make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
	default:
		return rc.invalid("", fmt.Errorf("%w: an envFrom entry names neither a configMapRef nor a secretRef", ErrInvalidReference))
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		varName := from.Prefix + k
		if len(utilvalidation.IsEnvVarName(varName)) > 0 {
			rc.env.Skipped = append(rc.env.Skipped, fmt.Sprintf("%q from %s %q", varName, kind, name))
			continue
		}
		rc.env.set(varName, data[k])
	}
	return nil
}

// value resolves one env entry; set is false when an optional object or key
// is missing, which leaves the variable as it was.
func (rc *call) value(ev corev1.EnvVar) (value string, set bool, err error) {
	from := ev.ValueFrom
	if from == nil {
		return Expand(ev.Value, rc.env.Lookup), true, nil
	}
	switch {
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := rc.configMap(ref.Name)
		if err != nil {
			return "", false, rc.readFailed(ev.Name, "configmap", ref.Name, ref.Optional, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		return "", false, rc.missingKey(ev.Name, "ConfigMap", ref.Name, ref.Key, ref.Optional)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := rc.secret(ref.Name)
		if err != nil {
			return "", false, rc.readFailed(ev.Name, "secret", ref.Name, ref.Optional, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		return "", false, rc.missingKey(ev.Name, "Secret", ref.Name, ref.Key, ref.Optional)
	case from.FieldRef != nil:
		if v := from.FieldRef.APIVersion; v != "" && v != "v1" {
			return "", false, rc.invalid(ev.Name, fmt.Errorf("%w: unsupported fieldRef apiVersion %q", ErrInvalidReference, v))
		}
		v, err := PodField(rc.pod, from.FieldRef.FieldPath, rc.podIP, rc.hostIP)
		if err != nil {
			return "", false, rc.invalid(ev.Name, err)
		}
		return v, true, nil
	case from.ResourceFieldRef != nil:
		v, err := ResourceField(rc.pod, rc.c, from.ResourceFieldRef, rc.r.Allocatable)
		if err != nil {
			return "", false, rc.invalid(ev.Name, err)
		}
		return v, true, nil
	case from.FileKeyRef != nil:
		return "", false, rc.invalid(ev.Name, fmt.Errorf("%w: fileKeyRef is not supported by skiff", ErrInvalidReference))
	}
	return "", false, rc.invalid(ev.Name, fmt.Errorf("%w: valueFrom of %s names no source", ErrInvalidReference, ev.Name))
}
