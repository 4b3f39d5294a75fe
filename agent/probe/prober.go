package probe

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// maxOutput caps what a probe keeps of a response body or a command's
// output, both when reading and in messages.
const maxOutput = 10 << 10

// Target is what one probe runs against.
type Target struct {
	// PodIP is the host httpGet and tcpSocket use when the probe names none.
	PodIP string
	// Container resolves named ports; it may be nil when ports are numbers.
	Container *corev1.Container
	// Exec runs exec probes inside the container; nil fails them as Unknown.
	Exec Execer
}

// Prober runs one check of a probe's handler against a target. It never
// retries; thresholds are the worker's job. It honours ctx and the probe's
// timeoutSeconds.
type Prober interface {
	Probe(ctx context.Context, p *corev1.Probe, t Target) (Result, string)
}

// NewProber returns the real Prober: httpGet, tcpSocket and exec handlers.
// gRPC probes are not supported and always give Unknown.
func NewProber() Prober {
	return &prober{http: newHTTPProber()}
}

type prober struct {
	http *httpProber
}

func (pr *prober) Probe(ctx context.Context, p *corev1.Probe, t Target) (Result, string) {
	if p == nil {
		return Unknown, "no probe"
	}
	timeout := probeTimeout(p)
	h := &p.ProbeHandler
	switch {
	case h.Exec != nil:
		return execProbe(ctx, t.Exec, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		port, err := ResolvePort(h.HTTPGet.Port, t.Container)
		if err != nil {
			return Unknown, err.Error()
		}
		return pr.http.probe(ctx, h.HTTPGet, t.PodIP, port, timeout)
	case h.TCPSocket != nil:
		port, err := ResolvePort(h.TCPSocket.Port, t.Container)
		if err != nil {
			return Unknown, err.Error()
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		return tcpProbe(ctx, host, port, timeout)
	case h.GRPC != nil:
		return Unknown, "gRPC probes are not supported by skiff"
	}
	return Unknown, "probe has no handler (exec, httpGet or tcpSocket)"
}

// probeTimeout is timeoutSeconds, or the Kubernetes default of 1s.
func probeTimeout(p *corev1.Probe) time.Duration {
	if p.TimeoutSeconds > 0 {
		return time.Duration(p.TimeoutSeconds) * time.Second
	}
	return defaultTimeout
}

// capOutput keeps at most maxOutput bytes, trimmed of space, as valid
// UTF-8 (a rune cut in half becomes U+FFFD).
func capOutput(b []byte) string {
	if len(b) > maxOutput {
		b = b[:maxOutput]
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(b)), "\uFFFD")
}
