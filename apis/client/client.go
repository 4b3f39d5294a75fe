package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Options tune a client beyond its config file.
type Options struct {
	// Warn receives the server's warnings (fields accepted but not acted
	// on, ...). Nil drops them.
	Warn func(msg string)
	// Timeout bounds a request that is not a watch; 0 means 30 s.
	Timeout time.Duration
	// Registry defaults to resources.Default().
	Registry *resources.Registry
	// TLS replaces the TLS settings the config gives (a node's own
	// certificate, renewed while it runs).
	TLS *tls.Config
	// Multiplex sends every request over HTTP/2, one connection per
	// master. For a node's agent: its requests are few at a time but
	// its nodes many, and a pool of HTTP/1.1 connections per node would
	// cost the masters a TLS handshake and a connection's memory each.
	Multiplex bool
	// Transport replaces both HTTP transports (tests).
	Transport http.RoundTripper
}

// Client talks to the masters' API. It is safe for concurrent use.
type Client struct {
	servers []*url.URL
	current atomic.Int32 // index of the server that last answered
	http    *http.Client // requests answered at once, over HTTP/1.1
	watch   *http.Client // long requests, over HTTP/2; no overall timeout
	reg     *resources.Registry
	opts    Options
}

// New returns a client for cfg.
func New(cfg *Config, opts Options) (*Client, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Registry == nil {
		opts.Registry = resources.Default()
	}
	c := &Client{reg: opts.Registry, opts: opts}
	for _, s := range cfg.Servers {
		if !strings.Contains(s, "://") {
			s = "https://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("server %q is not a URL", s)
		}
		c.servers = append(c.servers, u)
	}
	if len(c.servers) == 0 {
		return nil, errors.New("no servers to talk to")
	}
	unary, stream := opts.Transport, opts.Transport
	if unary == nil {
		tc := opts.TLS
		if tc == nil && (cfg.CertificateAuthority != "" || cfg.ClientCertificate != "") {
			var err error
			if tc, err = tlsConfig(cfg); err != nil {
				return nil, err
			}
		}
		unary, stream = newTransports(tc)
		if opts.Multiplex {
			unary = stream
		}
	}
	c.http = &http.Client{Transport: unary, Timeout: opts.Timeout}
	c.watch = &http.Client{Transport: stream}
	return c, nil
}

// newTransports returns the transport for requests answered at once and
// the one for long requests. The first speaks HTTP/1.1 over a pool of
// kept-alive connections: Go's HTTP/2 hands every request between several
// goroutines on both ends, and on skiff-bench's create runs (128 clients,
// 3 masters) the masters spent about a quarter more CPU per write with it.
// Long requests (watches, logs, exec, image imports) stay on HTTP/2, where
// they share one connection per master instead of holding one each, and
// where exec can stream stdin and output at once.
func newTransports(tc *tls.Config) (unary, stream *http.Transport) {
	stream = http.DefaultTransport.(*http.Transport).Clone()
	stream.MaxIdleConns, stream.MaxIdleConnsPerHost = 1024, 256
	stream.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	stream.TLSClientConfig = tc
	stream.ForceAttemptHTTP2 = true

	unary = stream.Clone()
	unary.ForceAttemptHTTP2 = false
	// A non-nil empty map turns HTTP/2 off; ALPN then offers only
	// HTTP/1.1.
	unary.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if tc != nil {
		unary.TLSClientConfig = tc.Clone()
		unary.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return unary, stream
}

func tlsConfig(cfg *Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if cfg.CertificateAuthority != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CertificateAuthority)) {
			return nil, errors.New("certificateAuthority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertificate != "" {
		cert, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Registry returns the resources the client knows.
func (c *Client) Registry() *resources.Registry { return c.reg }

// Servers returns the API URLs the client fails over between.
func (c *Client) Servers() []string {
	out := make([]string, len(c.servers))
	for i, u := range c.servers {
		out[i] = u.String()
	}
	return out
}

// request is one API call.
type request struct {
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string
	// stream is a body read as it is sent (exec's stdin, an image
	// archive); such a request fails over only when the master could not
	// be reached at all. size is its length, -1 when unknown.
	stream io.Reader
	size   int64
	// watch: a long request, not cut by Options.Timeout (watches,
	// snapshots, logs, exec, image imports).
	watch bool
}

// do sends a request, failing over to the next master when one cannot be
// reached. Only connection failures fail over: a request that reached a
// master has its answer, whatever it is.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	start := int(c.current.Load())
	var lastErr error
	for i := 0; i < len(c.servers); i++ {
		idx := (start + i) % len(c.servers)
		u := *c.servers[idx]
		u.Path = strings.TrimSuffix(u.Path, "/") + req.path
		u.RawQuery = req.query.Encode()
		var body io.Reader
		if req.body != nil {
			body = bytes.NewReader(req.body)
		} else if req.stream != nil {
			// Hidden behind a plain Reader, so that the transport does
			// not close what the caller gave (os.Stdin).
			body = struct{ io.Reader }{req.stream}
		}
		hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
		if err != nil {
			return nil, err
		}
		if req.stream != nil {
			hr.ContentLength = req.size
		}
		if req.contentType != "" {
			hr.Header.Set("Content-Type", req.contentType)
		}
		hr.Header.Set("Accept", "application/json")
		hc := c.http
		if req.watch {
			hc = c.watch
		}
		resp, err := hc.Do(hr)
		if err == nil {
			c.current.Store(int32(idx))
			c.warn(resp)
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
		// A read may go to another master whatever happened to it; a
		// write only when it surely never arrived.
		if !unreachable(err) && !idempotent(req.method) {
			return nil, err
		}
	}
	if len(c.servers) > 1 {
		return nil, fmt.Errorf("no master answered (tried %d): %w", len(c.servers), lastErr)
	}
	return nil, lastErr
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// unreachable reports whether err means the request never reached the
// master (so sending it to another one cannot apply it twice).
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

func (c *Client) warn(resp *http.Response) {
	if c.opts.Warn == nil {
		return
	}
	for _, h := range resp.Header.Values("Warning") {
		// 299 - "text"
		_, text, ok := strings.Cut(h, " - ")
		if !ok {
			text = h
		}
		if unq, err := strconv.Unquote(text); err == nil {
			text = unq
		}
		c.opts.Warn(text)
	}
}

// call sends a request and decodes a JSON answer into out (when not nil).
// An error answer becomes an *apierrors.StatusError.
func (c *Client) call(ctx context.Context, req request, out any) error {
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := w.Write(body)
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", req.method, req.path, err)
	}
	return nil
}

// decodeError turns an error answer into a StatusError.
func decodeError(code int, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	return apierrors.NewGenericServerResponse(code, "", resourcesNone, "", msg, 0, false)
}

// CloseIdleConnections closes the client's idle connections; requests
// later open new ones.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
	c.watch.CloseIdleConnections()
}

// readBody reads a whole answer, in one buffer of the right size when the
// server said how long it is (io.ReadAll would grow one step by step).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxPresizedBody {
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(resp.Body)
}

// maxPresizedBody bounds the buffer a Content-Length header alone may
// make the client allocate.
const maxPresizedBody = 16 << 20
