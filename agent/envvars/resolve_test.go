package envvars

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeSource serves objects from maps keyed by "namespace/name" and counts
// reads; err, when set, fails every read.
type fakeSource struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
	err     error
	reads   int
}

func (f *fakeSource) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if cm, ok := f.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeSource) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func newSource() *fakeSource {
	return &fakeSource{
		cms: map[string]*corev1.ConfigMap{
			"default/web-config": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-config"},
				Data:       map[string]string{"greeting": "hello", "color": "blue", "1st": "bad", "dotted.key": "bad"},
				BinaryData: map[string][]byte{"blob": []byte("bin")},
			},
		},
		secrets: map[string]*corev1.Secret{
			"default/db": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
				Data:       map[string][]byte{"password": []byte("s3cret"), "user": []byte("app")},
			},
		},
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "web-0", UID: "uid-1",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"team": "infra", "tpl": "$(A)"},
		},
		Spec: corev1.PodSpec{
			NodeName:           "node-a",
			ServiceAccountName: "builder",
			Containers: []corev1.Container{
				{Name: "main", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				}},
				{Name: "sidecar", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				}},
				{Name: "bare"},
			},
		},
		Status: corev1.PodStatus{PodIP: "10.0.0.9", HostIP: "192.168.1.9"},
	}
}

func ptr[T any](v T) *T { return &v }

func cmKey(name, key string, optional *bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}}
}

func secretKey(name, key string, optional *bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: optional}}
}

func field(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

func res(container, name, divisor string) *corev1.EnvVarSource {
	ref := &corev1.ResourceFieldSelector{ContainerName: container, Resource: name}
	if divisor != "" {
		ref.Divisor = resource.MustParse(divisor)
	}
	return &corev1.EnvVarSource{ResourceFieldRef: ref}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		container string // default "main"
		envFrom   []corev1.EnvFromSource
		env       []corev1.EnvVar
		podIP     string
		alloc     corev1.ResourceList

		want     []string
		skipped  []string
		sentinel error  // a *ConfigError wrapping it
		message  string // its message
	}{
		{
			name: "literal values and expansion of earlier variables only",
			env: []corev1.EnvVar{
				{Name: "HOST", Value: "db"},
				{Name: "URL", Value: "postgres://$(HOST):$(PORT)/x"},
				{Name: "PORT", Value: "5432"},
				{Name: "URL2", Value: "$(HOST):$(PORT) $$(HOST) $$$(HOST)"},
			},
			want: []string{"HOST=db", "URL=postgres://db:$(PORT)/x", "PORT=5432", "URL2=db:5432 $(HOST) $db"},
		},
		{
			name: "later definition wins and keeps the first position",
			env: []corev1.EnvVar{
				{Name: "A", Value: "1"}, {Name: "B", Value: "2"}, {Name: "A", Value: "$(A)+3"},
			},
			want: []string{"A=1+3", "B=2"},
		},
		{
			name: "envFrom configmap with prefix, invalid names skipped, env overrides",
			envFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
			env:     []corev1.EnvVar{{Name: "CFG_color", Value: "red"}, {Name: "G", Value: "$(CFG_greeting)!"}},
			want:    []string{"CFG_1st=bad", "CFG_color=red", "CFG_dotted.key=bad", "CFG_greeting=hello", "G=hello!"},
			skipped: nil,
		},
		{
			name: "envFrom without prefix skips keys that are not variable names",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
			want:    []string{"color=blue", "dotted.key=bad", "greeting=hello"},
			skipped: []string{`"1st" from configmap "web-config"`},
		},
		{
			name: "envFrom secret, later source wins",
			envFrom: []corev1.EnvFromSource{
				{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				{Prefix: "DB_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}},
			},
			env:  []corev1.EnvVar{{Name: "DB_user", Value: "root"}},
			want: []string{"DB_password=s3cret", "DB_user=root", "DB_1st=bad", "DB_color=blue", "DB_dotted.key=bad", "DB_greeting=hello"},
		},
		{
			name: "envFrom optional missing objects are skipped",
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			},
			env:  []corev1.EnvVar{{Name: "A", Value: "1"}},
			want: []string{"A=1"},
		},
		{
			name: "envFrom missing configmap",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(false)}}},
			sentinel: ErrObjectNotFound,
			message:  `configmap "nope" not found`,
		},
		{
			name: "envFrom missing secret",
			envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			sentinel: ErrObjectNotFound,
			message:  `secret "nope" not found`,
		},
		{
			name: "configMapKeyRef and secretKeyRef",
			env: []corev1.EnvVar{
				{Name: "GREETING", ValueFrom: cmKey("web-config", "greeting", nil)},
				{Name: "BLOB", ValueFrom: cmKey("web-config", "blob", nil)},
				{Name: "PASSWORD", ValueFrom: secretKey("db", "password", nil)},
				{Name: "RAW", ValueFrom: cmKey("web-config", "greeting", nil)},
				{Name: "MSG", Value: "$(GREETING), $(RAW)"},
			},
			want: []string{"GREETING=hello", "BLOB=bin", "PASSWORD=s3cret", "RAW=hello", "MSG=hello, hello"},
		},
		{
			name: "valueFrom values are not expanded",
			env: []corev1.EnvVar{
				{Name: "A", Value: "x"},
				{Name: "B", ValueFrom: field("metadata.annotations['tpl']")},
			},
			want: []string{"A=x", "B=$(A)"},
		},
		{
			name:     "missing configmap key",
			env:      []corev1.EnvVar{{Name: "G", ValueFrom: cmKey("web-config", "greting", nil)}},
			sentinel: ErrKeyNotFound,
			message:  "couldn't find key greting in ConfigMap default/web-config",
		},
		{
			name:     "missing secret key",
			env:      []corev1.EnvVar{{Name: "P", ValueFrom: secretKey("db", "pw", ptr(false))}},
			sentinel: ErrKeyNotFound,
			message:  "couldn't find key pw in Secret default/db",
		},
		{
			name:     "missing configmap for a key",
			env:      []corev1.EnvVar{{Name: "G", ValueFrom: cmKey("nope", "greeting", nil)}},
			sentinel: ErrObjectNotFound,
			message:  `configmap "nope" not found`,
		},
		{
			name:     "missing secret for a key",
			env:      []corev1.EnvVar{{Name: "P", ValueFrom: secretKey("nope", "pw", nil)}},
			sentinel: ErrObjectNotFound,
			message:  `secret "nope" not found`,
		},
		{
			name: "optional missing keys and objects leave the variable undefined",
			env: []corev1.EnvVar{
				{Name: "A", ValueFrom: cmKey("web-config", "nokey", ptr(true))},
				{Name: "B", ValueFrom: cmKey("nope", "k", ptr(true))},
				{Name: "C", ValueFrom: secretKey("db", "nokey", ptr(true))},
				{Name: "D", ValueFrom: secretKey("nope", "k", ptr(true))},
				{Name: "E", Value: "$(A)"},
			},
			want: []string{"E=$(A)"},
		},
		{
			name: "optional missing key keeps an earlier definition",
			env: []corev1.EnvVar{
				{Name: "A", Value: "default"},
				{Name: "A", ValueFrom: cmKey("web-config", "nokey", ptr(true))},
			},
			want: []string{"A=default"},
		},
		{
			name: "fieldRef",
			env: []corev1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")},
				{Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "POD_IP", ValueFrom: field("status.podIP")},
				{Name: "POD_IPS", ValueFrom: field("status.podIPs")},
				{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
				{Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "NOLABEL", ValueFrom: field("metadata.labels['nope']")},
				{Name: "TEAM", ValueFrom: field("metadata.annotations['team']")},
				{Name: "NOVERSION", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			podIP: "10.0.0.77",
			want: []string{"NAME=web-0", "NS=default", "UID=uid-1", "NODE=node-a", "SA=builder",
				"POD_IP=10.0.0.77", "POD_IPS=10.0.0.77", "HOST_IP=192.168.1.9", "APP=web", "NOLABEL=", "TEAM=infra", "NOVERSION=web-0"},
		},
		{
			name:  "fieldRef podIP falls back to the pod status",
			env:   []corev1.EnvVar{{Name: "POD_IP", ValueFrom: field("status.podIP")}},
			want:  []string{"POD_IP=10.0.0.9"},
			podIP: "",
		},
		{
			name:     "unknown fieldPath",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: field("metadata.labels")}},
			sentinel: ErrInvalidReference,
			message:  `env X: invalid reference: unsupported fieldPath "metadata.labels"`,
		},
		{
			name:     "fieldRef apiVersion",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}}},
			sentinel: ErrInvalidReference,
			message:  `env X: invalid reference: unsupported fieldRef apiVersion "v2"`,
		},
		{
			name: "resourceFieldRef",
			env: []corev1.EnvVar{
				{Name: "CPU", ValueFrom: res("", "limits.cpu", "")},
				{Name: "MCPU", ValueFrom: res("", "limits.cpu", "1m")},
				{Name: "MEM", ValueFrom: res("", "limits.memory", "")},
				{Name: "MEM_MI", ValueFrom: res("", "limits.memory", "1Mi")},
				{Name: "REQ_MEM_MI", ValueFrom: res("", "requests.memory", "1Mi")},
				{Name: "REQ_CPU", ValueFrom: res("", "requests.cpu", "1m")}, // no request: the limit
				{Name: "SIDECAR_CPU", ValueFrom: res("sidecar", "limits.cpu", "")},
				{Name: "NO_LIMIT", ValueFrom: res("", "limits.ephemeral-storage", "")},
				{Name: "BARE", ValueFrom: res("bare", "requests.cpu", "")},
			},
			want: []string{"CPU=1", "MCPU=500", "MEM=134217728", "MEM_MI=128", "REQ_MEM_MI=64", "REQ_CPU=500",
				"SIDECAR_CPU=2", "NO_LIMIT=0", "BARE=0"},
		},
		{
			name:      "resourceFieldRef without a limit reads the node's allocatable",
			container: "bare",
			env: []corev1.EnvVar{
				{Name: "CPU", ValueFrom: res("", "limits.cpu", "")},
				{Name: "MEM_GI", ValueFrom: res("", "limits.memory", "1Gi")},
				{Name: "MEM_G", ValueFrom: res("", "limits.memory", "1G")},
			},
			alloc: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			want:  []string{"CPU=4", "MEM_GI=8", "MEM_G=9"},
		},
		{
			name:     "resourceFieldRef unknown resource",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: res("", "limits.gpu", "")}},
			sentinel: ErrInvalidReference,
			message:  `env X: invalid reference: unsupported resource "limits.gpu" in resourceFieldRef`,
		},
		{
			name:     "resourceFieldRef unknown container",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: res("ghost", "limits.cpu", "")}},
			sentinel: ErrInvalidReference,
			message:  `env X: invalid reference: container "ghost" named in resourceFieldRef is not in the pod`,
		},
		{
			name:     "fileKeyRef",
			env:      []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "v", Path: "p", Key: "k"}}}},
			sentinel: ErrInvalidReference,
			message:  `env X: invalid reference: fileKeyRef is not supported by skiff`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod()
			cname := tt.container
			if cname == "" {
				cname = "main"
			}
			c := findContainer(pod, cname)
			c.EnvFrom, c.Env = tt.envFrom, tt.env
			r := &Resolver{Source: newSource(), Allocatable: tt.alloc}
			env, err := r.Resolve(context.Background(), pod, c, tt.podIP, "")
			if tt.sentinel != nil {
				var ce *ConfigError
				if !errors.As(err, &ce) || !errors.Is(err, tt.sentinel) {
					t.Fatalf("err = %v, want a *ConfigError wrapping %v", err, tt.sentinel)
				}
				if ce.Message != tt.message || err.Error() != tt.message {
					t.Errorf("message = %q, want %q", err.Error(), tt.message)
				}
				if ce.Container != cname {
					t.Errorf("Container = %q, want %q", ce.Container, cname)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !slices.Equal(env.Vars, tt.want) {
				t.Errorf("Vars =\n %q\nwant\n %q", env.Vars, tt.want)
			}
			if !slices.Equal(env.Skipped, tt.skipped) {
				t.Errorf("Skipped = %q, want %q", env.Skipped, tt.skipped)
			}
		})
	}
}

func TestResolveNotFoundCauseAndVar(t *testing.T) {
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "G", ValueFrom: cmKey("nope", "k", nil)}}
	_, err := (&Resolver{Source: newSource()}).Resolve(context.Background(), pod, c, "", "")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "G" {
		t.Fatalf("err = %#v, want a *ConfigError for G", err)
	}
	if !apierrors.IsNotFound(ce.Cause) || !errors.Is(err, ce.Cause) {
		t.Errorf("Cause = %v, want the source's not-found error, wrapped", ce.Cause)
	}
}

func TestResolveSourceFailureIsNotAConfigError(t *testing.T) {
	down := errors.New("connection refused")
	src := newSource()
	src.err = down
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "G", ValueFrom: cmKey("web-config", "greeting", ptr(true))}}
	_, err := (&Resolver{Source: src}).Resolve(context.Background(), pod, c, "", "")
	var ce *ConfigError
	if !errors.Is(err, down) || errors.As(err, &ce) {
		t.Fatalf("err = %v, want the source's error wrapped, not a *ConfigError (optional or not)", err)
	}
	if want := `container "main": get configmap default/web-config: connection refused`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestResolveReadsEachObjectOnce(t *testing.T) {
	src := newSource()
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}}
	c.Env = []corev1.EnvVar{
		{Name: "A", ValueFrom: cmKey("web-config", "greeting", nil)},
		{Name: "B", ValueFrom: cmKey("web-config", "color", nil)},
		{Name: "C", ValueFrom: secretKey("db", "user", nil)},
		{Name: "D", ValueFrom: cmKey("nope", "x", ptr(true))},
		{Name: "E", ValueFrom: cmKey("nope", "y", ptr(true))},
	}
	if _, err := (&Resolver{Source: src}).Resolve(context.Background(), pod, c, "", ""); err != nil {
		t.Fatal(err)
	}
	if src.reads != 3 {
		t.Errorf("reads = %d, want 3 (web-config, db, nope)", src.reads)
	}
}

func TestEnvLookupAndExpandAll(t *testing.T) {
	pod := testPod()
	c := &pod.Spec.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "PORT", Value: "8080"}, {Name: "NAME", ValueFrom: field("metadata.name")}}
	env, err := (&Resolver{Source: newSource()}).Resolve(context.Background(), pod, c, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := env.Lookup("PORT"); !ok || v != "8080" {
		t.Errorf("Lookup(PORT) = %q, %v", v, ok)
	}
	if _, ok := env.Lookup("NOPE"); ok {
		t.Error("Lookup(NOPE) found")
	}
	got := env.ExpandAll([]string{"--port=$(PORT)", "--id=$(NAME)", "$$(PORT)", "$(NOPE)"})
	want := []string{"--port=8080", "--id=web-0", "$(PORT)", "$(NOPE)"}
	if !slices.Equal(got, want) {
		t.Errorf("ExpandAll = %q, want %q", got, want)
	}
	if env.ExpandAll(nil) != nil {
		t.Error("ExpandAll(nil) != nil")
	}
}
