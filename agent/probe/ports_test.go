package probe

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080},
		{Name: "metrics", ContainerPort: 9090},
		{Name: "broken", ContainerPort: 0},
	}}
	tests := []struct {
		name      string
		port      intstr.IntOrString
		container *corev1.Container
		want      int
		err       error
		msg       string
	}{
		{name: "number", port: intstr.FromInt32(8081), container: c, want: 8081},
		{name: "number without container", port: intstr.FromInt32(80), want: 80},
		{name: "named", port: intstr.FromString("http"), container: c, want: 8080},
		{name: "second name", port: intstr.FromString("metrics"), container: c, want: 9090},
		{name: "digits as a name", port: intstr.FromString("7000"), container: c, want: 7000},
		{name: "unknown name", port: intstr.FromString("grpc"), container: c, err: ErrUnknownPortName,
			msg: `resolve port "grpc" in container "app": no container port with that name`},
		{name: "name without container", port: intstr.FromString("http"), err: ErrUnknownPortName,
			msg: `resolve port "http" in container "": no container port with that name`},
		{name: "empty name", port: intstr.FromString(""), container: c, err: ErrUnknownPortName,
			msg: "resolve port: empty port name: no container port with that name"},
		{name: "zero", port: intstr.FromInt32(0), container: c, err: ErrPortOutOfRange,
			msg: "resolve port 0: port out of range 1-65535"},
		{name: "too big", port: intstr.FromInt32(70000), container: c, err: ErrPortOutOfRange,
			msg: "resolve port 70000: port out of range 1-65535"},
		{name: "negative", port: intstr.FromInt32(-1), container: c, err: ErrPortOutOfRange,
			msg: "resolve port -1: port out of range 1-65535"},
		{name: "name of a bad port", port: intstr.FromString("broken"), container: c, err: ErrPortOutOfRange,
			msg: `resolve port "broken" = 0: port out of range 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolvePort(tt.port, tt.container)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) || err.Error() != tt.msg {
				t.Fatalf("got %d, %v; want error %q (%v)", got, err, tt.msg, tt.err)
			}
		})
	}
}
