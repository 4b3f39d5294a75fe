package podnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// GC tears down the attachments found on the host — namespace files in
// NetNSDir and host-local allocations of this network — whose id keep
// rejects. It goes on past a failure and returns them all joined.
func (c *CNI) GC(ctx context.Context, keep func(id string) bool) error {
	if keep == nil {
		return fmt.Errorf("%w: gc needs a keep function", ErrInvalid)
	}
	ids := make(map[string]bool)
	entries, err := os.ReadDir(c.cfg.NetNSDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: gc: %w", err)
	}
	for _, e := range entries {
		if validateID(e.Name()) != nil {
			c.log.Warn("gc: ignoring a file that is not an attachment", "path", filepath.Join(c.cfg.NetNSDir, e.Name()))
			continue
		}
		ids[e.Name()] = true
	}
	allocs, err := c.allocations()
	if err != nil {
		return fmt.Errorf("podnet: gc: %w", err)
	}
	for id, ips := range allocs {
		if validateID(id) != nil {
			c.log.Warn("gc: ignoring an IP allocation with an id skiff never gives", "id", id, "ips", ips)
			continue
		}
		ids[id] = true
	}

	var errs []error
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if keep(id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("podnet: gc: %w", err))
			break
		}
		c.log.Info("gc: tearing down a leftover attachment", "id", id, "ips", allocs[id])
		if err := c.Teardown(ctx, id, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// allocations lists host-local's allocations for this network by id. Each
// allocation is a file named by the IP holding "<id>\r\n<ifname>" (older
// plugins wrote only the id). Lock and bookkeeping files are skipped.
func (c *CNI) allocations() (map[string][]net.IP, error) {
	dir := c.cfg.ipamDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("IPAM allocations: %w", err)
	}
	out := make(map[string][]net.IP)
	for _, e := range entries {
		ip := net.ParseIP(e.Name())
		if ip == nil || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("IPAM allocations: %w", err)
		}
		id, _, _ := strings.Cut(string(b), "\n")
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		out[id] = append(out[id], ip)
	}
	return out, nil
}

// allocatedIPs returns the addresses host-local holds for id.
func (c *CNI) allocatedIPs(id string) ([]net.IP, error) {
	all, err := c.allocations()
	if err != nil {
		return nil, err
	}
	return all[id], nil
}
