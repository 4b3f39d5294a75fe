package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// maxRedirects is how many same-host redirects a probe follows.
	maxRedirects = 10
	// userAgent is sent unless the probe sets its own.
	userAgent = "skiff-probe/1"
)

// httpProber runs httpGet probes. Its transport keeps no idle connection,
// so every probe dials afresh, and it does not verify certificates (the
// kubelet does not either: the container serves whatever it has).
type httpProber struct {
	transport *http.Transport
}

func newHTTPProber() *httpProber {
	return &httpProber{transport: &http.Transport{
		Proxy:              nil, // a probe goes straight to the pod
		DisableKeepAlives:  true,
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet does
	}}
}

// probe GETs the action's URL on host (the pod IP unless the action names a
// host) and port. 200–399 is Success, any other status or a transport error
// is Failure, an action that cannot become a request is Unknown. Redirects
// are followed only to the same host; a redirect elsewhere ends the probe
// with the 3xx response, which counts as Success.
func (hp *httpProber) probe(ctx context.Context, a *corev1.HTTPGetAction, podIP string, port int, timeout time.Duration) (Result, string) {
	req, err := newProbeRequest(ctx, a, podIP, port)
	if err != nil {
		return Unknown, err.Error()
	}
	client := &http.Client{
		Transport:     hp.transport,
		Timeout:       timeout,
		CheckRedirect: sameHostRedirects,
	}
	resp, err := client.Do(req)
	if err != nil {
		return Failure, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if err != nil {
		return Failure, fmt.Sprintf("reading the response of %s: %v", req.URL, err)
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Success, fmt.Sprintf("probe ended on a redirect to another host (%s %s)", resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Success, capOutput(body)
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// newProbeRequest builds the GET a probe sends: scheme (default http), host
// (default podIP), port, path (with any query) and headers; a Host header
// becomes the request's Host.
func newProbeRequest(ctx context.Context, a *corev1.HTTPGetAction, podIP string, port int) (*http.Request, error) {
	host := a.Host
	if host == "" {
		host = podIP
	}
	if host == "" {
		return nil, fmt.Errorf("httpGet probe has no host: the pod has no IP yet")
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("httpGet probe: unsupported scheme %q", a.Scheme)
	}
	path := a.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path)
	if err != nil {
		return nil, fmt.Errorf("httpGet probe: bad URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("httpGet probe: %w", err)
	}
	for _, h := range a.HTTPHeaders {
		if http.CanonicalHeaderKey(h.Name) == "Host" {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	return req, nil
}

// sameHostRedirects follows a redirect only to the host the probe started
// on, at most maxRedirects times; a redirect elsewhere returns its response.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	return nil
}
