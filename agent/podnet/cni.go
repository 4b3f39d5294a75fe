package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// ifPrefix names the pod's interfaces: the conflist is loaded first, so the
// pod's interface is eth0.
const ifPrefix = "eth"

// podIfName is the pod's interface on the skiff network.
const podIfName = ifPrefix + "0"

// rollbackTimeout bounds the clean-up after a failed Setup, which runs even
// when the caller's context is done.
const rollbackTimeout = 30 * time.Second

// requiredPlugins are the plugin binaries the conflist and go-cni's loopback
// network run.
var requiredPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// CNI is the real Network: namespaces under Config.NetNSDir, attached by
// Debian's CNI plugins through go-cni.
type CNI struct {
	cfg   Config
	cni   gocni.CNI
	cache *libcni.CNIConfig // reads what libcni cached at ADD (port mappings for DEL)
	list  *libcni.NetworkConfigList
	log   *slog.Logger
	locks idLocks
}

var _ Network = (*CNI)(nil)

// New checks cfg, finds the plugins and creates NetNSDir. It touches no
// network state: the bridge appears with the first Setup.
func New(cfg Config) (*CNI, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, p := range requiredPlugins {
		if _, err := invoke.FindInPath(p, cfg.PluginDirs); err != nil {
			return nil, fmt.Errorf("podnet: CNI plugin %q not in %v (apt-get install containernetworking-plugins): %w",
				p, cfg.PluginDirs, err)
		}
	}
	conf, err := cfg.confList()
	if err != nil {
		return nil, fmt.Errorf("podnet: conflist: %w", err)
	}
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return nil, fmt.Errorf("podnet: conflist: %w", err)
	}
	g, err := gocni.New(
		gocni.WithPluginDir(cfg.PluginDirs),
		gocni.WithInterfacePrefix(ifPrefix),
		gocni.WithMinNetworkCount(2),
	)
	if err != nil {
		return nil, fmt.Errorf("podnet: go-cni: %w", err)
	}
	// The conflist first, then loopback: the pod's interface is eth0.
	if err := g.Load(gocni.WithConfListBytes(conf), gocni.WithLoNetwork); err != nil {
		return nil, fmt.Errorf("podnet: go-cni load: %w", err)
	}
	if err := os.MkdirAll(cfg.NetNSDir, 0o755); err != nil {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	return &CNI{
		cfg:   cfg,
		cni:   g,
		cache: libcni.NewCNIConfig(cfg.PluginDirs, nil),
		list:  list,
		log:   cfg.Logger.With("component", "podnet", "network", cfg.NetworkName),
	}, nil
}

// Config returns the configuration in use, defaults filled in.
func (c *CNI) Config() Config { return c.cfg }

// Setup creates id's namespace and attaches it to the bridge. An id that
// already has a namespace file or an IP allocation gives ErrExists and
// changes nothing. A failed attach is rolled back.
func (c *CNI) Setup(ctx context.Context, id string, opts SetupOptions) (*Attachment, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	unlock := c.locks.lock(id)
	defer unlock()

	start := time.Now()
	path := c.cfg.netnsPath(id)
	// Creating the file exclusively claims the id among everyone sharing
	// NetNSDir; from here on a failure is ours to undo.
	if err := createNetNS(path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s: namespace file %s exists", ErrExists, id, path)
		}
		return nil, fmt.Errorf("podnet: setup %s: %w", id, err)
	}
	// An allocation without a namespace file is a leftover (or another
	// agent's pod): an ADD would fail and its DEL would free that address.
	ips, err := c.allocatedIPs(id)
	if err == nil && len(ips) > 0 {
		err = fmt.Errorf("%w: %s: holds %v in %s (GC clears leftovers)", ErrExists, id, ips, c.cfg.ipamDir())
	} else if err != nil {
		err = fmt.Errorf("podnet: setup %s: %w", id, err)
	}
	if err != nil {
		return nil, errors.Join(err, removeNetNS(path))
	}

	res, err := c.cni.Setup(ctx, id, path, nsOpts(opts)...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("podnet: setup %s: %w", id, err), c.rollback(ctx, id, path, opts.PortMappings))
	}
	var ip net.IP
	if ifc := res.Interfaces[podIfName]; ifc != nil {
		for _, ipc := range ifc.IPConfigs {
			if v4 := ipc.IP.To4(); v4 != nil {
				ip = v4
				break
			}
		}
	}
	if ip == nil {
		err := fmt.Errorf("%w: setup %s: plugins gave %s no IPv4 address", ErrNoAddress, id, podIfName)
		return nil, errors.Join(err, c.rollback(ctx, id, path, opts.PortMappings))
	}
	c.log.Debug("pod network up", "id", id, "ip", ip, "ports", len(opts.PortMappings), "took", time.Since(start))
	return &Attachment{ID: id, NetNSPath: path, IP: ip, Interface: podIfName}, nil
}

// rollback undoes a failed Setup, even when ctx is done.
func (c *CNI) rollback(ctx context.Context, id, path string, pms []PortMapping) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := c.teardown(ctx, id, path, nsOpts(SetupOptions{PortMappings: pms})); err != nil {
		return fmt.Errorf("podnet: rollback %s: %w", id, err)
	}
	return nil
}

// Teardown runs CNI DEL for id (freeing its address, its veth, its NAT
// rules) and removes its namespace file. With att nil the namespace is
// found by id. Already gone is success.
func (c *CNI) Teardown(ctx context.Context, id string, att *Attachment) error {
	if err := validateID(id); err != nil {
		return err
	}
	path := c.cfg.netnsPath(id)
	if att != nil {
		if att.ID != "" && att.ID != id {
			return fmt.Errorf("%w: teardown %s given the attachment of %s", ErrInvalid, id, att.ID)
		}
		if att.NetNSPath != "" {
			path = att.NetNSPath
		}
	}
	unlock := c.locks.lock(id)
	defer unlock()
	if err := c.teardown(ctx, id, path, c.cachedOpts(id)); err != nil {
		return fmt.Errorf("podnet: teardown %s: %w", id, err)
	}
	return nil
}

// teardown is DEL, then the namespace file. The file stays when DEL fails,
// so that a retry still finds the namespace (the bridge plugin removes its
// masquerade rules only while the namespace exists).
func (c *CNI) teardown(ctx context.Context, id, path string, opts []gocni.NamespaceOpts) error {
	start := time.Now()
	nsPath := path
	ok, err := isNetNS(path)
	if err != nil {
		return err
	}
	if !ok {
		// Gone, or a plain file left by a crash: DEL without a namespace
		// still frees the address and the port mappings.
		nsPath = ""
	}
	if err := c.cni.Remove(ctx, id, nsPath, opts...); err != nil {
		return fmt.Errorf("CNI DEL: %w", err)
	}
	if !ok {
		if err := c.removeOrphanMasq(ctx, id); err != nil {
			return err
		}
	}
	if err := removeNetNS(path); err != nil {
		return err
	}
	c.log.Debug("pod network down", "id", id, "netns", ok, "took", time.Since(start))
	return nil
}

// cachedOpts returns the capability args the ADD of id used, from libcni's
// cache: portmap's DEL removes only the mappings it is given again. Without
// a cache entry (nothing was added, or it was cleaned already) there is
// nothing to pass.
func (c *CNI) cachedOpts(id string) []gocni.NamespaceOpts {
	_, rt, err := c.cache.GetNetworkListCachedConfig(c.list, &libcni.RuntimeConf{ContainerID: id, IfName: podIfName})
	if err != nil || rt == nil {
		if err != nil {
			c.log.Warn("reading CNI cache; tearing down without port mappings", "id", id, "err", err)
		}
		return nil
	}
	if pm, ok := rt.CapabilityArgs["portMappings"]; ok && pm != nil {
		return []gocni.NamespaceOpts{gocni.WithCapability("portMappings", pm)}
	}
	return nil
}

// nsOpts turns SetupOptions into go-cni's capability and CNI_ARGS options.
func nsOpts(opts SetupOptions) []gocni.NamespaceOpts {
	var out []gocni.NamespaceOpts
	if len(opts.PortMappings) > 0 {
		pms := make([]gocni.PortMapping, 0, len(opts.PortMappings))
		for _, pm := range opts.PortMappings {
			proto := strings.ToLower(pm.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			pms = append(pms, gocni.PortMapping{
				HostPort:      pm.HostPort,
				ContainerPort: pm.ContainerPort,
				Protocol:      proto,
				HostIP:        pm.HostIP,
			})
		}
		out = append(out, gocni.WithCapabilityPortMap(pms))
	}
	if len(opts.Labels) > 0 {
		// Plugins refuse CNI_ARGS keys they do not know unless told not to.
		out = append(out, gocni.WithLabels(opts.Labels), gocni.WithArgs("IgnoreUnknown", "1"))
	}
	return out
}
