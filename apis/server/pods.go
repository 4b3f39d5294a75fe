package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis/auth"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Paths of the pod subresources served by the pod's agent, as Kubernetes
// spells them.
const (
	podLogPattern  = "GET /api/v1/namespaces/{namespace}/pods/{name}/log"
	podExecPattern = "POST /api/v1/namespaces/{namespace}/pods/{name}/exec"
)

func (s *Server) mountPods() {
	s.mux.HandleFunc(podLogPattern, s.podLog)
	s.mux.HandleFunc(podExecPattern, s.podExec)
	s.mux.HandleFunc(podEvictionPattern, s.podEvict)
}

// podLog: ?container=&follow=&previous=&timestamps=&tailLines=&sinceSeconds=&limitBytes=
func (s *Server) podLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if err := s.authorize(r, auth.Attributes{Verb: "get", Resource: "pods", Subresource: "log", Namespace: ns, Name: name, Namespaced: true}); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	agentQ := url.Values{}
	for _, p := range []string{"follow", "previous", "timestamps"} {
		if v := q.Get(p); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, badRequest("%s=%q: not a boolean", p, v))
				return
			}
			agentQ.Set(p, strconv.FormatBool(b))
		}
	}
	for _, p := range []struct{ name, agent string }{{"tailLines", "tail"}, {"sinceSeconds", "sinceSeconds"}, {"limitBytes", "limitBytes"}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n == 0 && p.name != "tailLines" {
				low := "a positive"
				if p.name == "tailLines" {
					low = "a non-negative"
				}
				writeError(w, badRequest("%s=%q: must be %s integer", p.name, v, low))
				return
			}
			agentQ.Set(p.agent, strconv.FormatInt(n, 10))
		}
	}
	pod, container, err := s.podContainer(r.Context(), ns, name, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	host, err := s.podAgent(r.Context(), pod)
	if err != nil {
		writeError(w, err)
		return
	}
	s.proxyToAgent(w, r, pod.Spec.NodeName, host, endpoint.LogsPath(ns, name, container), agentQ, false)
}

// podExec: ?container=&command=...&command=...&stdin=; the body is stdin
// when stdin is true; the answer is the agent's frame stream.
func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if err := s.authorize(r, auth.Attributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns, Name: name, Namespaced: true}); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 || cmd[0] == "" {
		writeError(w, badRequest("exec needs a command: one command= parameter per argument"))
		return
	}
	stdin := false
	if v := q.Get("stdin"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, badRequest("stdin=%q: not a boolean", v))
			return
		}
		stdin = b
	}
	pod, container, err := s.podContainer(r.Context(), ns, name, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	host, err := s.podAgent(r.Context(), pod)
	if err != nil {
		writeError(w, err)
		return
	}
	agentQ := url.Values{"command": cmd}
	if stdin {
		agentQ.Set("stdin", "1")
		// HTTP/1 servers stop reading a request once the answer starts,
		// unless told otherwise: stdin and output flow together here.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	s.proxyToAgent(w, r, pod.Spec.NodeName, host, endpoint.ExecPath(ns, name, container), agentQ, stdin)
}

// podContainer reads a pod and picks the container asked for, or its only
// one, the way kubectl does.
func (s *Server) podContainer(ctx context.Context, ns, name, container string) (*corev1.Pod, string, error) {
	res, ok := s.reg.ByKind("Pod")
	if !ok {
		return nil, "", fmt.Errorf("this server does not serve pods")
	}
	rec, err := s.store.Get(ctx, res, ns, name, false)
	if err != nil {
		return nil, "", err
	}
	pod, ok := rec.Object().(*corev1.Pod)
	if !ok {
		return nil, "", fmt.Errorf("pod %s is stored as a %T", name, rec.Object())
	}
	var names, initNames []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		initNames = append(initNames, c.Name)
	}
	if container == "" {
		if len(names) == 1 {
			return pod, names[0], nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", name, names)
		if len(initNames) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", initNames)
		}
		return nil, "", badRequest("%s", msg)
	}
	for _, n := range append(names, initNames...) {
		if n == container {
			return pod, container, nil
		}
	}
	return nil, "", badRequest("container %s is not valid for pod %s (its containers: %v)", container, name, append(names, initNames...))
}

// podAgent is the address of the agent running a pod.
func (s *Server) podAgent(ctx context.Context, pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName == "" {
		return "", badRequest("pod %s is not bound to a node yet", pod.Name)
	}
	node, err := s.node(ctx, pod.Spec.NodeName)
	if err != nil {
		if st := statusOf(err); st.Code == http.StatusNotFound {
			return "", statusError(http.StatusNotFound, metav1.StatusReasonNotFound,
				"pod %s is bound to node %s, which does not exist", pod.Name, pod.Spec.NodeName)
		}
		return "", err
	}
	return AgentAddress(node)
}
