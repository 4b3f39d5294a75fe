package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/raftfsm"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// clusterOps implements the API's cluster endpoints over the Raft node.
// Membership changes happen on the leader; a follower passes them on.
type clusterOps struct {
	node   *raftfsm.Node
	scheme string
	now    func() time.Time
}

func (c *clusterOps) Members(ctx context.Context) ([]skiffv1.MemberStatus, error) {
	members, err := c.node.Members(ctx)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	return members, nil
}

// leaderClient returns a client for the leader's API, or nil when this
// master leads.
func (c *clusterOps) leaderClient() (*client.Client, error) {
	if c.node.IsLeader() {
		return nil, nil
	}
	addr, err := c.node.LeaderAPI()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	return client.New(&client.Config{Servers: []string{c.scheme + "://" + addr}}, client.Options{})
}

func (c *clusterOps) RemoveMember(ctx context.Context, id string) error {
	lc, err := c.leaderClient()
	if err != nil {
		return err
	}
	if lc != nil {
		return lc.RemoveMember(ctx, id)
	}
	if err := c.node.RemoveMember(ctx, id); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

// Snapshot writes the state as of now: after a read index, this master's
// FSM holds every acknowledged write.
func (c *clusterOps) Snapshot(ctx context.Context, w io.Writer) error {
	if err := c.node.ReadIndex(ctx); err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("waiting for the latest state: %v", err))
	}
	return raftfsm.WriteSnapshot(w, c.node.FSM().View())
}

func (c *clusterOps) Join(ctx context.Context, req *skiffv1.JoinRequest) (*skiffv1.JoinResponse, error) {
	tok, err := parseJoinToken(req.Token)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if msgs := validation.IsDNS1123Subdomain(req.ID); len(msgs) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("id %q: %v", req.ID, msgs))
	}
	for field, addr := range map[string]string{"raftAddress": req.RaftAddress, "apiAddress": req.APIAddress} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s %q: must be host:port", field, addr))
		}
	}
	lc, err := c.leaderClient()
	if err != nil {
		return nil, err
	}
	if lc != nil {
		return lc.Join(ctx, req)
	}
	if err := c.checkToken(tok, skiffv1.RoleServer); err != nil {
		return nil, err
	}
	if err := c.node.AddVoter(ctx, req.ID, req.RaftAddress, req.APIAddress); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	resp := &skiffv1.JoinResponse{Leader: c.node.ID()}
	for _, o := range c.node.FSM().View().List("Member", "") {
		resp.APIAddresses = append(resp.APIAddresses, o.(*skiffv1.Member).Spec.APIAddress)
	}
	return resp, nil
}

// checkToken looks the token up by its ID and checks hash, role and expiry.
// Every failure says only "not accepted", so a guesser learns nothing.
func (c *clusterOps) checkToken(tok joinToken, role string) error {
	o := c.node.FSM().View().Get("JoinToken", "", tok.ID())
	if o == nil {
		return apierrors.NewUnauthorized(ErrWrongToken.Error() + ": unknown, expired or revoked")
	}
	t := o.(*skiffv1.JoinToken)
	switch {
	case !tok.matches(t.Spec.SecretHash):
		return apierrors.NewUnauthorized(ErrWrongToken.Error() + ": unknown, expired or revoked")
	case t.Spec.Expires != nil && c.now().After(t.Spec.Expires.Time):
		return apierrors.NewUnauthorized(ErrWrongToken.Error() + ": unknown, expired or revoked")
	case t.Spec.Role != role:
		return apierrors.NewForbidden(schemaJoinTokens, t.Name, errors.New("a "+t.Spec.Role+" token cannot make a "+role))
	}
	return nil
}

var schemaJoinTokens = schema.GroupResource{Group: skiffv1.Group, Resource: "jointokens"}
