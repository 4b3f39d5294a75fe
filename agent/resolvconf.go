package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Kubernetes' limits on a pod's resolv.conf.
const (
	maxNameservers = 3
	maxSearches    = 32
)

// resolvConf is the parsed content of a resolv.conf.
type resolvConf struct {
	nameservers, searches, options []string
}

func parseResolvConf(raw []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search", "domain":
			rc.searches = f[1:]
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

func (rc resolvConf) bytes() []byte {
	var b bytes.Buffer
	for _, ns := range rc.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.searches, " "))
	}
	if len(rc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.options, " "))
	}
	return b.Bytes()
}

// podResolvConf is the pod's /etc/resolv.conf, by its dnsPolicy as in
// Kubernetes: ClusterFirst (the default) points at the node's cluster DNS
// with the pod's namespace first in the search list and ndots:5 — unless
// the pod uses the host's network (then it gets the host's file, as
// Default does), ClusterFirstWithHostNet always does; None takes only
// dnsConfig, which the other policies merge in. Without a cluster DNS
// (clusterDNS empty) ClusterFirst falls back to the host's file.
func podResolvConf(pod *corev1.Pod, host []byte, clusterDNS, domain string) ([]byte, error) {
	hostRC := parseResolvConf(host)
	var rc resolvConf
	cluster := func() resolvConf {
		return resolvConf{
			nameservers: []string{clusterDNS},
			searches:    append([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, hostRC.searches...),
			options:     []string{"ndots:5"},
		}
	}
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
		if pod.Spec.DNSConfig == nil || len(pod.Spec.DNSConfig.Nameservers) == 0 {
			return nil, fmt.Errorf("spec.dnsConfig.nameservers: dnsPolicy None needs at least one nameserver")
		}
	case corev1.DNSDefault:
		rc = hostRC
	case corev1.DNSClusterFirstWithHostNet:
		rc = hostRC
		if clusterDNS != "" {
			rc = cluster()
		}
	default: // ClusterFirst
		rc = hostRC
		if clusterDNS != "" && !pod.Spec.HostNetwork {
			rc = cluster()
		}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		rc.nameservers = append(rc.nameservers, c.Nameservers...)
		for _, s := range c.Searches {
			if !slices.Contains(rc.searches, s) {
				rc.searches = append(rc.searches, s)
			}
		}
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			// A pod's option replaces the one of the same name.
			rc.options = slices.DeleteFunc(rc.options, func(x string) bool {
				name, _, _ := strings.Cut(x, ":")
				return name == o.Name
			})
			rc.options = append(rc.options, opt)
		}
	}
	if len(rc.nameservers) > maxNameservers {
		rc.nameservers = rc.nameservers[:maxNameservers]
	}
	if len(rc.searches) > maxSearches {
		rc.searches = rc.searches[:maxSearches]
	}
	return rc.bytes(), nil
}
