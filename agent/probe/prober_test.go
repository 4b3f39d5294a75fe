package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProberDispatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "http "+r.URL.Path)
	}))
	defer srv.Close()
	podIP, httpPort := hostPort(t, srv.URL)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tcpPort := l.Addr().(*net.TCPAddr).Port

	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{
		{Name: "web", ContainerPort: int32(httpPort)},
		{Name: "raw", ContainerPort: int32(tcpPort)},
	}}
	ex := execFunc(func(_ context.Context, cmd []string, _ time.Duration) (int, []byte, error) {
		return 0, []byte("exec " + cmd[0]), nil
	})
	target := Target{PodIP: podIP, Container: c, Exec: ex}
	handler := func(h corev1.ProbeHandler) *corev1.Probe { return &corev1.Probe{ProbeHandler: h} }

	tests := []struct {
		name  string
		probe *corev1.Probe
		want  Result
		msg   string
	}{
		{name: "httpGet on a named port at the pod IP",
			probe: handler(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hz", Port: intstr.FromString("web")}}),
			want:  Success, msg: "http /hz"},
		{name: "tcpSocket on a named port",
			probe: handler(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("raw")}}),
			want:  Success, msg: ""},
		{name: "exec through the target's execer",
			probe: handler(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}),
			want:  Success, msg: "exec check"},
		{name: "unknown port name is Unknown",
			probe: handler(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("admin")}}),
			want:  Unknown, msg: `resolve port "admin" in container "app": no container port with that name`},
		{name: "tcp port out of range is Unknown",
			probe: handler(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(0)}}),
			want:  Unknown, msg: "resolve port 0: port out of range 1-65535"},
		{name: "gRPC is not supported",
			probe: handler(corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}),
			want:  Unknown, msg: "gRPC probes are not supported by skiff"},
		{name: "no handler", probe: handler(corev1.ProbeHandler{}),
			want: Unknown, msg: "probe has no handler (exec, httpGet or tcpSocket)"},
		{name: "nil probe", probe: nil, want: Unknown, msg: "no probe"},
	}
	pr := NewProber()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := pr.Probe(context.Background(), tt.probe, target)
			if res != tt.want || msg != tt.msg {
				t.Fatalf("got %v %q, want %v %q", res, msg, tt.want, tt.msg)
			}
		})
	}
}
