package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"
	"github.com/skiffhq/skiff/apis/skiffv1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Member returns the stored Member for a Raft server ID, or nil.
func (v *View) Member(id string) *skiffv1.Member {
	if o := v.Get("Member", "", id); o != nil {
		return o.(*skiffv1.Member)
	}
	return nil
}

// PutMember creates or updates the Member object of a master. Called on
// the leader.
func (n *Node) PutMember(ctx context.Context, id, raftAddr, apiAddr string) error {
	for attempt := 0; attempt < 5; attempt++ {
		cur := n.fsm.View().Member(id)
		m := &skiffv1.Member{
			TypeMeta:   metav1.TypeMeta{APIVersion: skiffv1.APIVersion, Kind: "Member"},
			ObjectMeta: metav1.ObjectMeta{Name: id},
			Spec:       skiffv1.MemberSpec{RaftAddress: raftAddr, APIAddress: apiAddr},
		}
		var cmd []byte
		var err error
		if cur == nil {
			m.UID = types.UID(newUID())
			m.CreationTimestamp = metav1.Now()
			cmd, err = encodeObject(MsgCreate, "Member", m, 0)
		} else {
			if cur.Spec == m.Spec {
				return nil
			}
			m.ObjectMeta = *cur.ObjectMeta.DeepCopy()
			rv, _ := strconv.ParseUint(cur.ResourceVersion, 10, 64)
			cmd, err = encodeObject(MsgUpdate, "Member", m, rv)
		}
		if err != nil {
			return err
		}
		_, err = n.Apply(ctx, cmd)
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			continue
		}
		return err
	}
	return fmt.Errorf("member %s kept changing while being written", id)
}

func newUID() string { return uuid.NewString() }

func encodeObject(t MsgType, kind string, obj any, rv uint64) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	switch t {
	case MsgCreate:
		return Encode(t, CreateMsg{Kind: kind, Object: raw})
	case MsgUpdate:
		return Encode(t, UpdateMsg{Kind: kind, Object: raw, ResourceVersion: rv})
	}
	return nil, fmt.Errorf("encodeObject: %s is not a create or update", t)
}

// AddVoter makes a master a voting member (the leader's half of a join).
// Joining again with the same ID and address is a no-op; an ID that comes
// back with a new address, or an address reused by a new ID, replaces the
// old entry.
func (n *Node) AddVoter(ctx context.Context, id, raftAddr, apiAddr string) error {
	if !n.IsLeader() {
		return raft.ErrNotLeader
	}
	servers, err := n.Configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		sameID, sameAddr := string(s.ID) == id, string(s.Address) == raftAddr
		switch {
		case sameID && sameAddr:
			return n.PutMember(ctx, id, raftAddr, apiAddr)
		case sameID || sameAddr:
			if string(s.ID) == n.cfg.ID {
				return fmt.Errorf("a master may not replace the leader (%s at %s)", s.ID, s.Address)
			}
			if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
				return fmt.Errorf("removing stale member %s: %w", s.ID, err)
			}
		}
	}
	// Record the API address first: once the new master votes, the others
	// must be able to forward to it should it lead.
	if err := n.PutMember(ctx, id, raftAddr, apiAddr); err != nil {
		return err
	}
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, 30*time.Second).Error(); err != nil {
		return fmt.Errorf("adding voter %s: %w", id, err)
	}
	n.log.Info("master joined", "id", id, "raft", raftAddr, "api", apiAddr)
	return nil
}

// RemoveMember takes a master out of the Raft configuration and deletes its
// Member object. The leader cannot remove itself this way.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return raft.ErrNotLeader
	}
	if id == n.cfg.ID {
		return errors.New("the leader cannot remove itself; remove it from another master after a leadership transfer")
	}
	servers, err := n.Configuration()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		if string(s.ID) == id {
			found = true
		}
	}
	if found {
		if err := n.raft.RemoveServer(raft.ServerID(id), 0, 30*time.Second).Error(); err != nil {
			return fmt.Errorf("removing %s: %w", id, err)
		}
	}
	if n.fsm.View().Member(id) != nil {
		cmd, err := Encode(MsgDelete, DeleteMsg{Kind: "Member", Name: id})
		if err != nil {
			return err
		}
		if _, err := n.Apply(ctx, cmd); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	} else if !found {
		return fmt.Errorf("no master with id %q", id)
	}
	return nil
}

// PruneMembers deletes Member objects of masters that are not in the Raft
// configuration (after a restore into a new cluster).
func (n *Node) PruneMembers(ctx context.Context) error {
	servers, err := n.Configuration()
	if err != nil {
		return err
	}
	in := map[string]bool{}
	for _, s := range servers {
		in[string(s.ID)] = true
	}
	for _, o := range n.fsm.View().List("Member", "") {
		if in[o.GetName()] {
			continue
		}
		cmd, err := Encode(MsgDelete, DeleteMsg{Kind: "Member", Name: o.GetName()})
		if err != nil {
			return err
		}
		if _, err := n.Apply(ctx, cmd); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// LocalStatus returns this master's own view of itself.
func (n *Node) LocalStatus() *skiffv1.MemberStatus {
	applied, _ := n.fsm.Applied()
	term, _ := strconv.ParseUint(n.raft.Stats()["term"], 10, 64)
	return &skiffv1.MemberStatus{
		ID:         n.cfg.ID,
		State:      n.raft.State().String(),
		Term:       term,
		LastIndex:  n.raft.LastIndex(),
		AppliedIdx: applied,
		Leader:     n.IsLeader(),
		Healthy:    true,
	}
}

// Members returns every master in the Raft configuration with its live
// status: each one is asked directly (with a short timeout), so a master
// that does not answer shows as unhealthy.
func (n *Node) Members(ctx context.Context) ([]skiffv1.MemberStatus, error) {
	servers, err := n.Configuration()
	if err != nil {
		return nil, err
	}
	leaderID, _ := n.Leader()
	view := n.fsm.View()
	out := make([]skiffv1.MemberStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		st := skiffv1.MemberStatus{ID: string(s.ID), RaftAddress: string(s.Address), Voter: s.Suffrage == raft.Voter}
		if m := view.Member(string(s.ID)); m != nil {
			st.APIAddress = m.Spec.APIAddress
		}
		out[i] = st
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var live *skiffv1.MemberStatus
			var err error
			if out[i].ID == n.cfg.ID {
				live = n.LocalStatus()
			} else if out[i].APIAddress == "" {
				err = errors.New("API address unknown")
			} else {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				live, err = n.peers.Status(cctx, out[i].APIAddress)
				cancel()
			}
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].State, out[i].Term, out[i].LastIndex, out[i].AppliedIdx = live.State, live.Term, live.LastIndex, live.AppliedIdx
			out[i].Healthy = true
		}(i)
	}
	wg.Wait()
	for i := range out {
		out[i].Leader = out[i].ID == leaderID
	}
	// A member far behind the leader is not healthy even if it answers.
	var leaderIdx uint64
	for _, m := range out {
		if m.Leader {
			leaderIdx = m.AppliedIdx
		}
	}
	for i := range out {
		if out[i].Healthy && leaderIdx > out[i].AppliedIdx+5000 {
			out[i].Healthy = false
			out[i].Error = fmt.Sprintf("lagging %d entries behind the leader", leaderIdx-out[i].AppliedIdx)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
