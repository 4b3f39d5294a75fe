package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/agent/podnet"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sandbox is what a pod holds on the node besides its containers: its
// network namespace and address, and the files every container mounts. It
// is saved as JSON so a restarted agent finds it.
type sandbox struct {
	NetID     string `json:"netID"`
	NetNSPath string `json:"netnsPath"`
	IP        string `json:"ip"`
	Interface string `json:"interface"`
	Hosts     string `json:"hosts"`
	Resolv    string `json:"resolv"`
	Hostname  string `json:"hostname"`
}

func (a *Agent) podDir(uid types.UID) string { return filepath.Join(a.podsDir(), string(uid)) }

func (a *Agent) sandboxFile(uid types.UID) string {
	return filepath.Join(a.podDir(uid), "sandbox.json")
}

// netID names the pod's network attachment: unique on the host even when
// several agents share it.
func (a *Agent) netID(uid types.UID) string { return a.cfg.NodeName + "-" + string(uid) }

func (a *Agent) loadSandbox(uid types.UID) (*sandbox, error) {
	raw, err := os.ReadFile(a.sandboxFile(uid))
	if err != nil {
		return nil, err
	}
	var sb sandbox
	if err := json.Unmarshal(raw, &sb); err != nil {
		return nil, fmt.Errorf("%s: %w", a.sandboxFile(uid), err)
	}
	return &sb, nil
}

// ensureSandbox sets up the pod's network and files once.
func (a *Agent) ensureSandbox(ctx context.Context, pod *corev1.Pod) (*sandbox, error) {
	if sb, err := a.loadSandbox(pod.UID); err == nil {
		return sb, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dir := a.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	id := a.netID(pod.UID)
	att, err := a.cfg.Network.Setup(ctx, id, podnet.SetupOptions{
		PortMappings: hostPorts(pod),
		Labels: map[string]string{"K8S_POD_NAMESPACE": pod.Namespace, "K8S_POD_NAME": pod.Name,
			"K8S_POD_UID": string(pod.UID)},
	})
	if errors.Is(err, podnet.ErrExists) {
		// Set up by a run of the agent that died before saving: start over.
		if terr := a.cfg.Network.Teardown(ctx, id, nil); terr != nil {
			return nil, fmt.Errorf("network: %w (and removing the leftover: %v)", err, terr)
		}
		att, err = a.cfg.Network.Setup(ctx, id, podnet.SetupOptions{PortMappings: hostPorts(pod)})
	}
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	sb := &sandbox{NetID: id, NetNSPath: att.NetNSPath, IP: att.IP.String(), Interface: att.Interface,
		Hosts: filepath.Join(dir, "etc-hosts"), Resolv: filepath.Join(dir, "resolv.conf"), Hostname: filepath.Join(dir, "hostname")}
	hostname := podHostname(pod)
	host, err := os.ReadFile(a.cfg.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("reading %s for the pod's resolv.conf: %w", a.cfg.ResolvConf, err)
	}
	resolv, err := podResolvConf(pod, host, a.cfg.ClusterDNS, a.cfg.ClusterDomain)
	if err != nil {
		return nil, err
	}
	for path, content := range map[string][]byte{
		sb.Hosts:    hostsFile(pod, sb.IP, hostname),
		sb.Resolv:   resolv,
		sb.Hostname: []byte(hostname + "\n"),
	} {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return nil, err
		}
	}
	raw, _ := json.Marshal(sb)
	tmp := a.sandboxFile(pod.UID) + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, a.sandboxFile(pod.UID)); err != nil {
		return nil, err
	}
	return sb, nil
}

// releaseSandbox tears the pod's network down; the files go with the pod
// directory.
func (a *Agent) releaseSandbox(ctx context.Context, uid types.UID) error {
	var att *podnet.Attachment
	if sb, err := a.loadSandbox(uid); err == nil {
		att = &podnet.Attachment{ID: sb.NetID, NetNSPath: sb.NetNSPath, IP: net.ParseIP(sb.IP), Interface: sb.Interface}
	}
	if err := a.cfg.Network.Teardown(ctx, a.netID(uid), att); err != nil {
		return err
	}
	if err := os.Remove(a.sandboxFile(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func hostsFile(pod *corev1.Pod, ip, hostname string) []byte {
	var b strings.Builder
	b.WriteString("# Written by skiff's agent.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if ip != "" {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	for _, h := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	return []byte(b.String())
}

func hostPorts(pod *corev1.Pod) []podnet.PortMapping {
	var out []podnet.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			out = append(out, podnet.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort,
				Protocol: strings.ToLower(string(p.Protocol)), HostIP: p.HostIP})
		}
	}
	return out
}
