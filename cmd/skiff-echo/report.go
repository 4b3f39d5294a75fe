package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// report is what GET / answers, as text or, with ?format=json, as JSON.
type report struct {
	Hostname   string            `json:"hostname"`
	PodIP      string            `json:"podIP"`
	RemoteAddr string            `json:"remoteAddr"`
	Requests   uint64            `json:"requests"` // GET / answered so far, this one included
	Env        map[string]string `json:"env"`
}

func (s *server) report(w http.ResponseWriter, r *http.Request) {
	rep := report{
		Hostname:   s.hostname,
		PodIP:      s.podIP(),
		RemoteAddr: r.RemoteAddr,
		Requests:   s.requests.Add(1),
		Env:        map[string]string{},
	}
	env := slices.Sorted(slices.Values(s.environ()))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		rep.Env[k] = v
	}

	switch format := r.URL.Query().Get("format"); format {
	case "json":
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep) // a failed write is the client's loss only
	case "", "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hostname: %s\n", rep.Hostname)
		fmt.Fprintf(w, "pod IP: %s\n", rep.PodIP)
		fmt.Fprintf(w, "remote address: %s\n", rep.RemoteAddr)
		fmt.Fprintf(w, "requests: %d\n", rep.Requests)
		fmt.Fprintf(w, "env:\n")
		for _, kv := range env {
			fmt.Fprintf(w, "  %s\n", kv)
		}
	default:
		http.Error(w, fmt.Sprintf("format %q: want text or json", format), http.StatusBadRequest)
	}
}

// podIP is $POD_IP, else the first non-loopback IPv4 address of the
// interfaces, else "".
func (s *server) podIP() string {
	if ip := s.getenv("POD_IP"); ip != "" {
		return ip
	}
	addrs, err := s.ifAddrs()
	if err != nil {
		s.logErr.Error("interface addresses", "err", err)
		return ""
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() {
			continue
		}
		if ip4 := ipn.IP.To4(); ip4 != nil {
			return ip4.String()
		}
	}
	return ""
}
