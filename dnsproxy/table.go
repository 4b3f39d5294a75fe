package dnsproxy

import (
	"cmp"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// defaultTTL is the TTL of cluster answers when Config.TTL is zero; the
// Table uses it until a Server sets its own.
const defaultTTL = 5

// Table holds the cluster records the server answers from; safe for
// concurrent use. The agent feeds it from its watches of Services,
// Endpoints and Pods.
//
// Every change is turned into ready-made answers at once, so that a query
// costs one map read under a read lock. Writers never hold that lock while
// building: they build with only the writer lock held and then swap the
// changed names in.
//
// Each object (an "owner": a service together with its endpoints, a pod, or
// the zone's static names) contributes a fragment to each name it produces.
// Names can have several owners (a namespace's empty non-terminal, pods
// sharing a host-network address, reverse names of shared addresses); the
// index answers from the best fragment, so deleting one owner reveals the
// next instead of leaving a hole.
type Table struct {
	domain string // normalised: lower case, fully qualified
	synced atomic.Bool
	// gen moves on every change of what the table answers (a commit, the
	// TTL, being synced): packed replies are valid for one generation.
	gen atomic.Uint64

	// mu guards the read side.
	mu    sync.RWMutex
	names map[string]*node // lower-case owner name -> answers
	soa   []dns.RR         // replaced, never modified, when the serial moves

	// wmu serialises writers and guards everything below.
	wmu       sync.Mutex
	ttl       uint32
	serial    uint32
	services  map[objKey]*serviceInfo
	endpoints map[objKey]*endpointsInfo
	pods      map[objKey]*podInfo
	owned     map[owner]map[string]fragment // what each owner contributes
	byName    map[string]map[owner]fragment // who contributes to each name
}

type ownerKind uint8

const (
	ownerStatic ownerKind = iota
	ownerService
	ownerPod
)

type owner struct {
	kind ownerKind
	key  objKey
}

// compare orders owners so that ties between equally good reverse names
// resolve the same way on every node and after every restart.
func (o owner) compare(p owner) int {
	return cmp.Or(
		cmp.Compare(o.kind, p.kind),
		cmp.Compare(o.key.namespace, p.key.namespace),
		cmp.Compare(o.key.name, p.key.name),
	)
}

// NewTable returns an empty, not yet synced table for the cluster domain
// (e.g. "cluster.local"; a trailing dot and upper case are accepted, and
// "" means DefaultDomain).
func NewTable(domain string) *Table {
	t := &Table{
		domain:    normaliseDomain(domain),
		names:     make(map[string]*node),
		ttl:       defaultTTL,
		services:  make(map[objKey]*serviceInfo),
		endpoints: make(map[objKey]*endpointsInfo),
		pods:      make(map[objKey]*podInfo),
		owned:     make(map[owner]map[string]fragment),
		byName:    make(map[string]map[owner]fragment),
		// Starting from the clock keeps the serial increasing across
		// restarts of the agent, as secondaries and caches expect.
		serial: uint32(time.Now().Unix()),
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.update(owner{kind: ownerStatic})
	return t
}

// SetService adds or replaces a service.
func (t *Table) SetService(svc *corev1.Service) {
	if svc == nil {
		return
	}
	key := objKey{namespace: svc.Namespace, name: svc.Name}
	info := newServiceInfo(svc)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if old, ok := t.services[key]; ok && reflect.DeepEqual(old, info) {
		return // a resync or a change DNS does not see
	}
	t.services[key] = info
	t.update(owner{kind: ownerService, key: key})
}

// DeleteService removes a service and every name it produced.
func (t *Table) DeleteService(namespace, name string) {
	key := objKey{namespace: namespace, name: name}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if _, ok := t.services[key]; !ok {
		return
	}
	delete(t.services, key)
	t.update(owner{kind: ownerService, key: key})
}

// SetEndpoints adds or replaces the endpoints of the service of the same
// namespace and name. Endpoints may arrive before their service; they take
// effect when it does.
func (t *Table) SetEndpoints(ep *corev1.Endpoints) {
	if ep == nil {
		return
	}
	key := objKey{namespace: ep.Namespace, name: ep.Name}
	info := newEndpointsInfo(ep)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if old, ok := t.endpoints[key]; ok && reflect.DeepEqual(old, info) {
		return
	}
	t.endpoints[key] = info
	t.update(owner{kind: ownerService, key: key})
}

// DeleteEndpoints removes the endpoints of a service.
func (t *Table) DeleteEndpoints(namespace, name string) {
	key := objKey{namespace: namespace, name: name}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if _, ok := t.endpoints[key]; !ok {
		return
	}
	delete(t.endpoints, key)
	t.update(owner{kind: ownerService, key: key})
}

// SetPod adds or replaces a pod. A pod without an address (not yet started)
// or that has finished is treated as deleted: only running pods' addresses
// are theirs.
func (t *Table) SetPod(pod *corev1.Pod) {
	if pod == nil {
		return
	}
	key := objKey{namespace: pod.Namespace, name: pod.Name}
	info := newPodInfo(pod)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	old, had := t.pods[key]
	switch {
	case info == nil && !had:
		return
	case info == nil:
		delete(t.pods, key)
	case had && reflect.DeepEqual(old, info):
		return
	default:
		t.pods[key] = info
	}
	t.update(owner{kind: ownerPod, key: key})
}

// DeletePod removes a pod.
func (t *Table) DeletePod(namespace, name string) {
	key := objKey{namespace: namespace, name: name}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if _, ok := t.pods[key]; !ok {
		return
	}
	delete(t.pods, key)
	t.update(owner{kind: ownerPod, key: key})
}

// MarkSynced records that the first full listing of every watched kind is
// in. Until then the table may lack names that exist, so the server answers
// SERVFAIL rather than a wrong, cacheable NXDOMAIN.
func (t *Table) MarkSynced() { t.synced.Store(true); t.gen.Add(1) }

// Synced reports whether MarkSynced was called.
func (t *Table) Synced() bool { return t.synced.Load() }

// lookup returns the node of a lower-case name (nil when the name does not
// exist) and the current SOA record set. It is the whole read path.
func (t *Table) lookup(lname string) (*node, []dns.RR) {
	t.mu.RLock()
	n, soa := t.names[lname], t.soa
	t.mu.RUnlock()
	return n, soa
}

// setTTL rebuilds every record when the TTL changes. A Server calls it once
// when it is created, normally before the table has any objects.
func (t *Table) setTTL(ttl uint32) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if ttl == t.ttl {
		return
	}
	t.ttl = ttl
	changed := make(map[string]struct{})
	t.replace(owner{kind: ownerStatic}, changed)
	for key := range t.services {
		t.replace(owner{kind: ownerService, key: key}, changed)
	}
	for key := range t.pods {
		t.replace(owner{kind: ownerPod, key: key}, changed)
	}
	t.commit(changed)
}

// update rebuilds one owner and publishes the result. The caller holds wmu.
func (t *Table) update(o owner) {
	changed := make(map[string]struct{})
	t.replace(o, changed)
	if len(changed) > 0 {
		t.commit(changed)
	}
}

// build returns the fragments owner o contributes now; none when it is gone.
func (t *Table) build(o owner) map[string]fragment {
	z := newZoneBuilder(t.domain, t.ttl)
	switch o.kind {
	case ownerStatic:
		z.addStatic()
	case ownerService:
		svc, ok := t.services[o.key]
		if !ok {
			return nil
		}
		z.addService(o.key, svc, t.endpoints[o.key])
	case ownerPod:
		pod, ok := t.pods[o.key]
		if !ok {
			return nil
		}
		z.addPod(o.key, pod)
	}
	return z.fragments()
}

// replace swaps owner o's fragments for freshly built ones and adds the
// names whose fragments changed to changed. The caller holds wmu.
func (t *Table) replace(o owner, changed map[string]struct{}) {
	old := t.owned[o]
	frags := t.build(o)
	for name := range old {
		if _, ok := frags[name]; ok {
			continue
		}
		byOwner := t.byName[name]
		delete(byOwner, o)
		if len(byOwner) == 0 {
			delete(t.byName, name)
		}
		changed[name] = struct{}{}
	}
	for name, f := range frags {
		if of, ok := old[name]; ok && of.prio == f.prio && reflect.DeepEqual(of.node, f.node) {
			// Keep the published node: the name does not change.
			frags[name] = of
			continue
		}
		byOwner := t.byName[name]
		if byOwner == nil {
			byOwner = make(map[owner]fragment, 1)
			t.byName[name] = byOwner
		}
		byOwner[o] = f
		changed[name] = struct{}{}
	}
	if len(frags) == 0 {
		delete(t.owned, o)
	} else {
		t.owned[o] = frags
	}
}

// commit publishes the best fragment of each changed name and moves the
// serial. The caller holds wmu; readers wait only for the map writes.
func (t *Table) commit(changed map[string]struct{}) {
	nodes := make(map[string]*node, len(changed))
	for name := range changed {
		nodes[name] = t.best(name)
	}
	t.serial++
	soa := newSOA(t.domain, t.serial, t.ttl)

	t.mu.Lock()
	defer t.mu.Unlock()
	for name, n := range nodes {
		if n == nil {
			delete(t.names, name)
		} else {
			t.names[name] = n
		}
	}
	t.soa = soa
	t.gen.Add(1)
}

// best picks the node a name answers with: the lowest priority, ties broken
// by owner. It returns nil when nobody contributes the name any more.
func (t *Table) best(name string) *node {
	var (
		found bool
		bestO owner
		bestF fragment
	)
	for o, f := range t.byName[name] {
		if !found || f.prio < bestF.prio || (f.prio == bestF.prio && o.compare(bestO) < 0) {
			found, bestO, bestF = true, o, f
		}
	}
	return bestF.node
}
