package nodeipam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Nodes reads and writes nodes; the leader's local state and the store.
type Nodes interface {
	List() []*corev1.Node
	// Update writes node with its resourceVersion as precondition.
	Update(ctx context.Context, node *corev1.Node) error
}

// Allocator assigns pod CIDRs.
type Allocator struct {
	cidr    *net.IPNet
	subnets int // how many /24s the cluster CIDR holds
	nodes   Nodes
	log     *slog.Logger
}

// ErrFull: every /24 of the cluster CIDR is taken.
var ErrFull = errors.New("no free pod CIDR left in the cluster CIDR")

// New returns an allocator over cidr, an IPv4 network of /8 to /24.
func New(cidr string, nodes Nodes, log *slog.Logger) (*Allocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr %q: %w", cidr, err)
	}
	ones, bits := n.Mask.Size()
	if bits != 32 || ones < 8 || ones > 24 {
		return nil, fmt.Errorf("--cluster-cidr %q: must be an IPv4 network from /8 to /24", cidr)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Allocator{cidr: n, subnets: 1 << (24 - ones), nodes: nodes, log: log}, nil
}

// Run allocates until ctx ends, checking every interval.
func (a *Allocator) Run(ctx context.Context, interval time.Duration) {
	for {
		if err := a.Sync(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("allocating pod CIDRs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Sync gives every node without a pod CIDR the lowest free one.
func (a *Allocator) Sync(ctx context.Context) error {
	nodes := a.nodes.List()
	used := map[int]bool{}
	for _, n := range nodes {
		if i, ok := a.index(n.Spec.PodCIDR); ok {
			used[i] = true
		}
	}
	next := 0
	var errs []error
	for _, n := range nodes {
		if n.Spec.PodCIDR != "" {
			continue
		}
		for next < a.subnets && used[next] {
			next++
		}
		if next == a.subnets {
			return ErrFull
		}
		upd := n.DeepCopy()
		upd.Spec.PodCIDR = a.subnet(next)
		upd.Spec.PodCIDRs = []string{upd.Spec.PodCIDR}
		if err := a.nodes.Update(ctx, upd); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
			continue
		}
		used[next] = true
		a.log.Info("pod CIDR assigned", "node", n.Name, "podCIDR", upd.Spec.PodCIDR)
	}
	return errors.Join(errs...)
}

func (a *Allocator) subnet(i int) string {
	base := binary.BigEndian.Uint32(a.cidr.IP.To4()) + uint32(i)<<8
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, base)
	return ip.String() + "/24"
}

// index returns which /24 of the cluster CIDR cidr is.
func (a *Allocator) index(cidr string) (int, bool) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || !a.cidr.Contains(ip) {
		return 0, false
	}
	if ones, _ := n.Mask.Size(); ones != 24 {
		return 0, false
	}
	off := binary.BigEndian.Uint32(n.IP.To4()) - binary.BigEndian.Uint32(a.cidr.IP.To4())
	return int(off >> 8), true
}
