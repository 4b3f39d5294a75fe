package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// resolver is the part of *net.Resolver that /resolve uses.
type resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// resolve looks ?name= up with Go's own resolver, which reads
// /etc/resolv.conf (search domains and ndots included) and /etc/hosts.
// ?type= is A (the default), AAAA or SRV. It answers one record per line:
// an address, or "priority weight port target" for SRV. A name that does
// not exist answers 404, any other failure 502, both with the error.
func (s *server) resolve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		http.Error(w, "name: missing", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()

	var answers []string
	var err error
	switch typ := strings.ToUpper(q.Get("type")); typ {
	case "", "A", "AAAA":
		network := "ip4"
		if typ == "AAAA" {
			network = "ip6"
		}
		var ips []net.IP
		ips, err = s.resolver.LookupIP(ctx, network, name)
		for _, ip := range ips {
			answers = append(answers, ip.String())
		}
	case "SRV":
		var srvs []*net.SRV
		_, srvs, err = s.resolver.LookupSRV(ctx, "", "", name)
		for _, srv := range srvs {
			answers = append(answers, fmt.Sprintf("%d %d %d %s", srv.Priority, srv.Weight, srv.Port, srv.Target))
		}
	default:
		http.Error(w, fmt.Sprintf("type %q: want A, AAAA or SRV", typ), http.StatusBadRequest)
		return
	}
	if err != nil {
		code := http.StatusBadGateway
		if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
			code = http.StatusNotFound
		}
		http.Error(w, "error: "+err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, a := range answers {
		fmt.Fprintln(w, a)
	}
}
