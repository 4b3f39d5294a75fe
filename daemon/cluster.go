package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/secretbox"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// defaultTokenTTL is how long `skiff token create` tokens work by default.
const defaultTokenTTL = 24 * time.Hour

// clusterOps implements the API's cluster endpoints over the Raft node and
// the PKI. Membership changes happen on the leader; a follower passes them
// on with its own server certificate.
type clusterOps struct {
	node    *raftfsm.Node
	pki     *masterPKI
	store   storage.Store // secrets sealed
	reg     *resources.Registry
	scheme  string
	peerTLS *tls.Config
	now     func() time.Time
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
	return client.New(&client.Config{Servers: []string{c.scheme + "://" + addr}}, client.Options{TLS: c.peerTLS})
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
// FSM holds every acknowledged write. Secrets stay sealed in it.
func (c *clusterOps) Snapshot(ctx context.Context, w io.Writer) error {
	if err := c.node.ReadIndex(ctx); err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("waiting for the latest state: %v", err))
	}
	return raftfsm.WriteSnapshot(w, c.node.FSM().View())
}

func (c *clusterOps) CABundle(context.Context) ([]byte, error) {
	if c.pki == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "ca"}, "bundle")
	}
	return c.pki.CA().Bundle, nil
}

var tokensResource = schema.GroupResource{Group: skiffv1.Group, Resource: "jointokens"}

func tokenRefused() error {
	return apierrors.NewUnauthorized(pki.ErrWrongToken.Error() + ": unknown, expired or revoked")
}

// checkToken looks the token up by its ID and checks its CA, secret,
// expiry and role. A wrong token only ever hears "not accepted".
func (c *clusterOps) checkToken(ctx context.Context, tok pki.Token, role string) (*skiffv1.JoinToken, error) {
	if err := c.node.ReadIndex(ctx); err != nil {
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	o := c.node.FSM().View().Get("JoinToken", "", tok.ID())
	if o == nil {
		return nil, tokenRefused()
	}
	t := o.(*skiffv1.JoinToken)
	switch {
	case !tok.Matches(t.Spec.SecretHash):
		return nil, tokenRefused()
	case t.Spec.Expires != nil && c.now().After(t.Spec.Expires.Time):
		return nil, tokenRefused()
	case !tok.PinsCA(c.pki.CA().Cert):
		return nil, apierrors.NewUnauthorized(pki.ErrWrongToken.Error() + ": it was made for a previous CA of this cluster (the CA was rotated); create a new token")
	case t.Spec.Role != role:
		return nil, apierrors.NewForbidden(tokensResource, t.Name, fmt.Errorf("a %s token cannot make a %s", t.Spec.Role, joinRoleNoun(role)))
	}
	return t, nil
}

func joinRoleNoun(role string) string {
	if role == skiffv1.RoleServer {
		return "master"
	}
	return "worker"
}

// Join admits a host: any master can, as every master holds the CA.
func (c *clusterOps) Join(ctx context.Context, req *skiffv1.JoinRequest) (*skiffv1.JoinResponse, error) {
	tok, err := pki.ParseToken(req.Token)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	var certName, role string
	switch req.Role {
	case skiffv1.RoleServer:
		if msgs := validation.IsDNS1123Subdomain(req.Name); len(msgs) > 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("name %q: %s", req.Name, strings.Join(msgs, "; ")))
		}
		for field, addr := range map[string]string{"raftAddress": req.RaftAddress, "apiAddress": req.APIAddress} {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("%s %q: must be host:port", field, addr))
			}
		}
		certName, role = pki.ServerName(req.Name), pki.RoleServer
	case skiffv1.RoleWorker:
		if msgs := validation.IsDNS1123Subdomain(req.Name); len(msgs) > 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("node name %q: %s", req.Name, strings.Join(msgs, "; ")))
		}
		certName, role = pki.NodeName(req.Name), pki.RoleNode
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("role %q: must be %s or %s", req.Role, skiffv1.RoleServer, skiffv1.RoleWorker))
	}
	t, err := c.checkToken(ctx, tok, req.Role)
	if err != nil {
		return nil, err
	}
	ca := c.pki.CA()
	certPEM, err := ca.Sign([]byte(req.CSR), pki.IssueOptions{
		Identity: pki.Identity{Name: certName, Role: role},
		Hosts:    hostsOf(req.RaftAddress, req.APIAddress), Lifetime: c.pki.lifetime,
	})
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	resp := &skiffv1.JoinResponse{Certificate: string(certPEM), CABundle: string(ca.Bundle)}
	if req.Role == skiffv1.RoleServer {
		keyPEM, err := pki.KeyPEM(ca.Key)
		if err != nil {
			return nil, err
		}
		if resp.Keyring, err = c.pki.keys.Marshal(); err != nil {
			return nil, err
		}
		resp.CAKey, resp.CAChain = string(keyPEM), string(ca.Chain)
	}
	for _, o := range c.node.FSM().View().List("Member", "") {
		resp.APIAddresses = append(resp.APIAddresses, o.(*skiffv1.Member).Spec.APIAddress)
	}
	c.countUse(ctx, t)
	return resp, nil
}

// countUse records a token's use; losing a count to a concurrent join is
// harmless, so a conflict is not retried.
func (c *clusterOps) countUse(ctx context.Context, t *skiffv1.JoinToken) {
	res, _ := c.reg.ByKind("JoinToken")
	upd := t.DeepCopyObject().(*skiffv1.JoinToken)
	upd.Status.Uses++
	now := metav1.NewTime(c.now().UTC().Truncate(time.Second))
	upd.Status.LastUsed = &now
	from, _ := parseUint(t.ResourceVersion)
	upd.ResourceVersion = ""
	_, _ = c.store.Update(ctx, res, upd, from)
}

func (c *clusterOps) AddMaster(ctx context.Context, caller auth.User, req *skiffv1.AddMasterRequest) (*skiffv1.AddMasterResponse, error) {
	if caller.Role != auth.RoleServer && caller.Role != auth.RoleAdmin {
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "masters"}, req.ID, errors.New("only a master's certificate may add a master"))
	}
	// A master adds itself; a follower passing the request on is trusted
	// to have checked that.
	if caller.Role == auth.RoleServer && caller.Name != pki.ServerName(req.ID) && c.node.FSM().View().Member(strings.TrimPrefix(caller.Name, "server:")) == nil {
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "masters"}, req.ID, fmt.Errorf("certificate %s may not add master %s", caller.Name, req.ID))
	}
	lc, err := c.leaderClient()
	if err != nil {
		return nil, err
	}
	if lc != nil {
		return lc.AddMaster(ctx, req)
	}
	if err := c.node.AddVoter(ctx, req.ID, req.RaftAddress, req.APIAddress); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &skiffv1.AddMasterResponse{Leader: c.node.ID()}, nil
}

func (c *clusterOps) Renew(ctx context.Context, caller auth.User, req *skiffv1.RenewRequest) (*skiffv1.RenewResponse, error) {
	var role string
	switch caller.Role {
	case auth.RoleNode:
		role = pki.RoleNode
	case auth.RoleServer:
		role = pki.RoleServer
	default:
		return nil, apierrors.NewForbidden(schema.GroupResource{Resource: "certificates"}, caller.Name, errors.New("only nodes and masters renew their certificates here; users ask an admin for a new config"))
	}
	ca := c.pki.CA()
	certPEM, err := ca.Sign([]byte(req.CSR), pki.IssueOptions{
		Identity: pki.Identity{Name: caller.Name, Role: role}, Hosts: caller.Hosts, Lifetime: c.pki.lifetime,
	})
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return &skiffv1.RenewResponse{Certificate: string(certPEM), CABundle: string(ca.Bundle)}, nil
}

func (c *clusterOps) CreateToken(ctx context.Context, req *skiffv1.TokenRequest) (*skiffv1.TokenResponse, error) {
	if req.Role != skiffv1.RoleServer && req.Role != skiffv1.RoleWorker {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("role %q: must be %s or %s", req.Role, skiffv1.RoleServer, skiffv1.RoleWorker))
	}
	ttl := defaultTokenTTL
	if req.TTLSeconds != nil {
		if *req.TTLSeconds < 0 {
			return nil, apierrors.NewBadRequest("ttlSeconds: must not be negative (0 means the token never expires)")
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	return c.makeToken(ctx, req.Role, ttl, req.Description)
}

// makeToken stores a new token's hash and returns the token.
func (c *clusterOps) makeToken(ctx context.Context, role string, ttl time.Duration, description string) (*skiffv1.TokenResponse, error) {
	tok, err := pki.NewToken(c.pki.CA().Cert)
	if err != nil {
		return nil, err
	}
	obj := &skiffv1.JoinToken{
		TypeMeta:   metav1.TypeMeta{APIVersion: skiffv1.APIVersion, Kind: "JoinToken"},
		ObjectMeta: metav1.ObjectMeta{Name: tok.ID(), UID: types.UID(newUID()), CreationTimestamp: metav1.NewTime(c.now().UTC().Truncate(time.Second)), Generation: 1},
		Spec:       skiffv1.JoinTokenSpec{Role: role, SecretHash: tok.SecretHash(), Description: description},
	}
	if ttl > 0 {
		exp := metav1.NewTime(c.now().Add(ttl).UTC().Truncate(time.Second))
		obj.Spec.Expires = &exp
	}
	res, _ := c.reg.ByKind("JoinToken")
	if _, err := c.store.Create(ctx, res, obj); err != nil {
		return nil, err
	}
	return &skiffv1.TokenResponse{Token: tok.String(), ID: tok.ID(), Expires: obj.Spec.Expires}, nil
}

func (c *clusterOps) CreateUser(ctx context.Context, req *skiffv1.UserRequest) (*skiffv1.UserResponse, error) {
	res, _ := c.reg.ByKind("User")
	user := &skiffv1.User{
		TypeMeta:   metav1.TypeMeta{APIVersion: skiffv1.APIVersion, Kind: "User"},
		ObjectMeta: metav1.ObjectMeta{Name: req.Name, UID: types.UID(newUID()), CreationTimestamp: metav1.NewTime(c.now().UTC().Truncate(time.Second))},
		Spec:       skiffv1.UserSpec{Role: req.Role, Namespace: req.Namespace},
	}
	if errs := res.Validate(user, nil); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: skiffv1.Group, Kind: "User"}, req.Name, errs)
	}
	ca := c.pki.CA()
	// Check the CSR before storing anything.
	certPEM, err := ca.Sign([]byte(req.CSR), pki.IssueOptions{
		Identity: pki.Identity{Name: pki.UserName(req.Name), Role: pki.RoleUser}, Lifetime: userCertLifetime,
	})
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if _, err := c.store.Create(ctx, res, user); err != nil {
		return nil, err
	}
	out := &skiffv1.UserResponse{Certificate: string(certPEM), CABundle: string(ca.Bundle)}
	for _, o := range c.node.FSM().View().List("Member", "") {
		out.Servers = append(out.Servers, c.scheme+"://"+o.(*skiffv1.Member).Spec.APIAddress)
	}
	return out, nil
}

// RotateSecretsKey runs on the leader: a new key, handed to every master,
// then every Secret sealed again with it.
func (c *clusterOps) RotateSecretsKey(ctx context.Context) (*skiffv1.RotateKeyResponse, error) {
	lc, err := c.leaderClient()
	if err != nil {
		return nil, err
	}
	if lc != nil {
		return lc.RotateSecretsKey(ctx)
	}
	key, err := c.pki.keys.Rotate()
	if err != nil {
		return nil, err
	}
	raw, err := c.pki.keys.Marshal()
	if err != nil {
		return nil, err
	}
	// Masters that miss the push fetch the key when they first need it.
	for _, o := range c.node.FSM().View().List("Member", "") {
		m := o.(*skiffv1.Member)
		if m.Name == c.node.ID() {
			continue
		}
		_ = c.pushKeyring(ctx, m.Spec.APIAddress, raw)
	}
	res, _ := c.reg.ByKind("Secret")
	n := 0
	for _, o := range c.node.FSM().View().List("Secret", "") {
		if secretbox.SealedWith(o) == key.ID {
			continue
		}
		for attempt := 0; attempt < 5; attempt++ {
			rec, err := c.store.Get(ctx, res, o.GetNamespace(), o.GetName(), false)
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return nil, err
			}
			plain := rec.Object().DeepCopyObject().(*corev1.Secret)
			from, _ := parseUint(plain.ResourceVersion)
			plain.ResourceVersion = ""
			_, err = c.store.Update(ctx, res, plain, from)
			if apierrors.IsConflict(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			n++
			break
		}
	}
	return &skiffv1.RotateKeyResponse{KeyID: key.ID, Reencrypted: n}, nil
}

func (c *clusterOps) peerHTTP() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c.peerTLS}}
}

func (c *clusterOps) pushKeyring(ctx context.Context, addr string, raw []byte) error {
	_, err := c.peerCall(ctx, http.MethodPost, addr, keyringPath, raw)
	return err
}

// peerCall makes a master-to-master call with this master's certificate
// and returns the answer's body (at most 1 MiB).
func (c *clusterOps) peerCall(ctx context.Context, method, addr, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.scheme+"://"+addr+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.peerHTTP().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("master %s: %s: %s", addr, resp.Status, bytes.TrimSpace(raw))
	}
	return raw, nil
}

// leaderCall is peerCall to the current leader.
func (c *clusterOps) leaderCall(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	addr, err := c.node.LeaderAPI()
	if err != nil {
		return nil, err
	}
	return c.peerCall(ctx, method, addr, path, body)
}

// fetchKeyring merges the leader's keys into this master's keyring.
func (c *clusterOps) fetchKeyring(ctx context.Context) error {
	raw, err := c.leaderCall(ctx, http.MethodGet, keyringPath, nil)
	if err != nil {
		return err
	}
	return c.pki.keys.Merge(raw)
}

// keyringPath serves a master's keyring to other masters only.
const keyringPath = "/internal/v1/keyring"

func keyringHandler(keys *secretbox.Keyring) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+keyringPath, func(w http.ResponseWriter, r *http.Request) {
		raw, err := keys.Marshal()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
	})
	mux.HandleFunc("POST "+keyringPath, func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			err = keys.Merge(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write([]byte("{}"))
	})
	return mux
}

func parseUint(s string) (uint64, error) {
	var v uint64
	_, err := fmt.Sscan(s, &v)
	return v, err
}
