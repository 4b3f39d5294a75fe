package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
)

const mergePatch = "application/merge-patch+json"

// workloadArg reads "deployment/web", "deploy web" or "rs/web" into a
// resource and a name; kinds limits what may be named.
func workloadArg(reg *resources.Registry, args []string, kinds ...string) (*resources.Resource, string, error) {
	var typ, name string
	switch len(args) {
	case 1:
		typ, name = parseTypeName(args[0])
	case 2:
		typ, name = args[0], args[1]
	}
	if typ == "" || name == "" {
		return nil, "", fmt.Errorf("name the object as TYPE/NAME or TYPE NAME (one of: %s)", strings.ToLower(strings.Join(kinds, ", ")))
	}
	res, err := reg.Resolve(typ)
	if err != nil {
		return nil, "", err
	}
	for _, k := range kinds {
		if res.Kind == k {
			return res, name, nil
		}
	}
	return nil, "", fmt.Errorf("%s: this verb works on %s", res.Plural, strings.ToLower(strings.Join(kinds, ", ")))
}

// patchSpec merges patch into an object's main endpoint and returns it.
func patchSpec(ctx context.Context, c *client.Client, res *resources.Resource, ns, name string, patch any) (apis.Object, error) {
	raw, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	return c.Patch(ctx, res, ns, name, mergePatch, raw, false)
}
