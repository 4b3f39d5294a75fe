package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/skiffhq/skiff/apis/skiffv1"
)

// Paths of the cluster endpoints (mirrors apis/server).
const (
	membersPath  = "/cluster/v1/members"
	snapshotPath = "/cluster/v1/snapshot"
	joinPath     = "/cluster/v1/join"
)

// Members lists the masters with their live status.
func (c *Client) Members(ctx context.Context) ([]skiffv1.MemberStatus, error) {
	var out skiffv1.MemberStatusList
	err := c.call(ctx, request{method: http.MethodGet, path: membersPath}, &out)
	return out.Members, err
}

// RemoveMember takes a master out of the cluster.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: membersPath + "/" + url.PathEscape(id)}, nil)
}

// Snapshot streams a consistent snapshot of the cluster state into w.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: snapshotPath, watch: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp.StatusCode, body)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Join asks the cluster to admit a new master.
func (c *Client) Join(ctx context.Context, req *skiffv1.JoinRequest) (*skiffv1.JoinResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out skiffv1.JoinResponse
	err = c.call(ctx, request{method: http.MethodPost, path: joinPath, body: body, contentType: "application/json"}, &out)
	return &out, err
}

// Version returns the server's version.
func (c *Client) Version(ctx context.Context) (*skiffv1.VersionInfo, error) {
	var out skiffv1.VersionInfo
	err := c.call(ctx, request{method: http.MethodGet, path: "/version"}, &out)
	return &out, err
}

// Raw sends a GET and returns the body (discovery, health).
func (c *Client) Raw(ctx context.Context, path string) ([]byte, error) {
	var out rawBody
	err := c.call(ctx, request{method: http.MethodGet, path: path}, &out)
	return out, err
}

type rawBody []byte

func (r *rawBody) Write(p []byte) (int, error) {
	*r = append(*r, p...)
	return len(p), nil
}

// CABundle fetches the cluster's CA certificates (PEM).
func (c *Client) CABundle(ctx context.Context) ([]byte, error) {
	return c.Raw(ctx, "/cluster/v1/ca")
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: http.MethodPost, path: path, body: body, contentType: "application/json"}, out)
}

// AddMaster makes the calling master a voter (the second step of a
// master's join, with its new server certificate).
func (c *Client) AddMaster(ctx context.Context, req *skiffv1.AddMasterRequest) (*skiffv1.AddMasterResponse, error) {
	var out skiffv1.AddMasterResponse
	return &out, c.post(ctx, "/cluster/v1/masters", req, &out)
}

// Renew certifies a new key for the caller's identity.
func (c *Client) Renew(ctx context.Context, req *skiffv1.RenewRequest) (*skiffv1.RenewResponse, error) {
	var out skiffv1.RenewResponse
	return &out, c.post(ctx, "/cluster/v1/renew", req, &out)
}

// CreateToken makes a join token.
func (c *Client) CreateToken(ctx context.Context, req *skiffv1.TokenRequest) (*skiffv1.TokenResponse, error) {
	var out skiffv1.TokenResponse
	return &out, c.post(ctx, "/cluster/v1/tokens", req, &out)
}

// CreateUser records a user and certifies its key.
func (c *Client) CreateUser(ctx context.Context, req *skiffv1.UserRequest) (*skiffv1.UserResponse, error) {
	var out skiffv1.UserResponse
	return &out, c.post(ctx, "/cluster/v1/users", req, &out)
}

// RotateSecretsKey makes a new secrets key and re-encrypts every Secret.
func (c *Client) RotateSecretsKey(ctx context.Context) (*skiffv1.RotateKeyResponse, error) {
	var out skiffv1.RotateKeyResponse
	return &out, c.post(ctx, "/cluster/v1/secrets/rotate-key", struct{}{}, &out)
}

// RotateCA replaces the cluster's root CA (cross-signed, no downtime).
func (c *Client) RotateCA(ctx context.Context) (*skiffv1.RotateCAResponse, error) {
	var out skiffv1.RotateCAResponse
	return &out, c.post(ctx, "/cluster/v1/ca/rotate", struct{}{}, &out)
}
