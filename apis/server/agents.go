package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A few requests are not served from the store but by a node's agent: a
// pod's log and exec, and the images a node holds. The master looks up
// the agent's address in the Node object (status.addresses InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port) and calls it with
// Config.AgentTransport, after authorizing the caller itself: the agent
// trusts masters, not users.

// statusError is an API error with any code.
func statusError(code int, reason metav1.StatusReason, format string, args ...any) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: fmt.Sprintf(format, args...),
	}}
}

func (s *Server) agentTransport() http.RoundTripper {
	if s.cfg.AgentTransport != nil {
		return s.cfg.AgentTransport
	}
	return http.DefaultTransport
}

func (s *Server) agentURL(host, path string, q url.Values) *url.URL {
	scheme := s.cfg.AgentScheme
	if scheme == "" {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: q.Encode()}
}

// node reads a Node object.
func (s *Server) node(ctx context.Context, name string) (*corev1.Node, error) {
	res, ok := s.reg.ByKind("Node")
	if !ok {
		return nil, errors.New("this server does not serve nodes")
	}
	rec, err := s.store.Get(ctx, res, "", name, false)
	if err != nil {
		return nil, err
	}
	node, ok := rec.Object().(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("node %s is stored as a %T", name, rec.Object())
	}
	return node, nil
}

// AgentAddress is host:port of a node's agent (its InternalIP and agent port).
func AgentAddress(node *corev1.Node) (string, error) {
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" {
			ip = a.Address
			break
		}
	}
	if ip == "" {
		return "", statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"node %s reports no InternalIP address (status.addresses): has its agent registered?", node.Name)
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		return "", statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"node %s reports no agent port (status.daemonEndpoints.kubeletEndpoint.Port): has its agent registered?", node.Name)
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

func unreachableAgent(node, host string, err error) error {
	return statusError(http.StatusBadGateway, "", "cannot reach the agent of node %s at %s: %v", node, host, err)
}

// proxyToAgent passes the request to path on a node's agent and streams
// the answer back, flushing as it comes. The agent's error answers are
// Status objects and go through unchanged. With body false the caller's
// body is not sent.
func (s *Server) proxyToAgent(w http.ResponseWriter, r *http.Request, node, host, path string, q url.Values, body bool) {
	target := s.agentURL(host, path, q)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = ""
			if !body {
				pr.Out.Body, pr.Out.ContentLength = http.NoBody, 0
			}
		},
		Transport:     s.agentTransport(),
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the caller went away
			}
			writeError(w, unreachableAgent(node, host, err))
		},
	}
	rp.ServeHTTP(w, r)
}

// agentError reads an agent's error answer: its Status message, else its
// text.
func agentError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		return errors.New(st.Message)
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = resp.Status
	}
	return fmt.Errorf("the agent answered %d: %s", resp.StatusCode, msg)
}
