package podnet

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"path"
	"slices"
	"sync"
)

// Fake is an in-memory Network for the agent's unit tests. It validates ids
// and options as CNI does, hands out the lowest free address of its subnet
// (the first being the gateway), refuses a duplicate id with ErrExists, and
// forgets ids on Teardown and GC. No namespace file exists at NetNSPath.
type Fake struct {
	// SetupErr and TeardownErr, when set, are called first; a non-nil
	// error fails the call without changing anything.
	SetupErr    func(id string) error
	TeardownErr func(id string) error

	mu     sync.Mutex
	prefix netip.Prefix
	atts   map[string]*Attachment
	byIP   map[netip.Addr]string
	setups int
}

var _ Network = (*Fake)(nil)

// FakeNetNSDir is the directory of the namespace paths Fake reports.
const FakeNetNSDir = "/fake/netns"

// NewFake returns a Fake handing out addresses of podCIDR (10.42.0.0/24 if
// empty). It panics on a CIDR that is not IPv4.
func NewFake(podCIDR string) *Fake {
	if podCIDR == "" {
		podCIDR = "10.42.0.0/24"
	}
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		panic(fmt.Sprintf("podnet.NewFake: pod CIDR %q: want an IPv4 prefix of /30 or wider", podCIDR))
	}
	return &Fake{
		prefix: p.Masked(),
		atts:   make(map[string]*Attachment),
		byIP:   make(map[netip.Addr]string),
	}
}

// Setup allocates the lowest free address to id.
func (f *Fake) Setup(ctx context.Context, id string, opts SetupOptions) (*Attachment, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.SetupErr != nil {
		if err := f.SetupErr(id); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.atts[id]; ok {
		return nil, fmt.Errorf("%w: %s: holds %s", ErrExists, id, a.IP)
	}
	gateway := f.prefix.Addr().Next()
	for ip := gateway.Next(); f.prefix.Contains(ip.Next()); ip = ip.Next() {
		// ip.Next() still inside: ip is not the broadcast address.
		if _, used := f.byIP[ip]; used {
			continue
		}
		f.byIP[ip] = id
		a := &Attachment{
			ID:        id,
			NetNSPath: path.Join(FakeNetNSDir, id),
			IP:        net.IP(ip.AsSlice()),
			Interface: podIfName,
		}
		f.atts[id] = a
		f.setups++
		return cloneAttachment(a), nil
	}
	return nil, fmt.Errorf("%w: setup %s: %s is full", ErrNoAddress, id, f.prefix)
}

// Teardown frees id's address; an unknown id is success.
func (f *Fake) Teardown(ctx context.Context, id string, att *Attachment) error {
	if err := validateID(id); err != nil {
		return err
	}
	if att != nil && att.ID != "" && att.ID != id {
		return fmt.Errorf("%w: teardown %s given the attachment of %s", ErrInvalid, id, att.ID)
	}
	if f.TeardownErr != nil {
		if err := f.TeardownErr(id); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.remove(id)
	return nil
}

// GC tears down every id keep rejects.
func (f *Fake) GC(ctx context.Context, keep func(id string) bool) error {
	if keep == nil {
		return fmt.Errorf("%w: gc needs a keep function", ErrInvalid)
	}
	f.mu.Lock()
	ids := slices.Sorted(maps.Keys(f.atts))
	f.mu.Unlock()
	for _, id := range ids {
		if keep(id) {
			continue
		}
		if err := f.Teardown(ctx, id, nil); err != nil {
			return err
		}
	}
	return nil
}

// Attachments returns copies of the current attachments, sorted by id.
func (f *Fake) Attachments() []Attachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Attachment, 0, len(f.atts))
	for _, id := range slices.Sorted(maps.Keys(f.atts)) {
		out = append(out, *cloneAttachment(f.atts[id]))
	}
	return out
}

// Setups counts the successful Setup calls so far.
func (f *Fake) Setups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.setups
}

func (f *Fake) remove(id string) {
	a, ok := f.atts[id]
	if !ok {
		return
	}
	if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
		delete(f.byIP, ip)
	}
	delete(f.atts, id)
}

func cloneAttachment(a *Attachment) *Attachment {
	c := *a
	c.IP = slices.Clone(a.IP)
	return &c
}
