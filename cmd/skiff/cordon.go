package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setUnschedulable cordons or uncordons a node.
func setUnschedulable(ctx context.Context, c *client.Client, name string, on bool) (bool, error) {
	res, _ := c.Registry().ByKind("Node")
	obj, err := c.Get(ctx, res, "", name)
	if err != nil {
		return false, err
	}
	if obj.(*corev1.Node).Spec.Unschedulable == on {
		return false, nil
	}
	_, err = patchSpec(ctx, c, res, "", name, map[string]any{"spec": map[string]any{"unschedulable": on}})
	return err == nil, err
}

func newCordonCmd(g *globals, on bool) *cobra.Command {
	verb, done := "cordon", "cordoned"
	short := "Mark a node unschedulable: its pods stay, no new pod goes there"
	if !on {
		verb, done, short = "uncordon", "uncordoned", "Mark a node schedulable again"
	}
	return &cobra.Command{
		Use:   verb + " NODE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			changed, err := setUnschedulable(cmd.Context(), c, args[0], on)
			if err != nil {
				return err
			}
			if !changed {
				fmt.Fprintf(cmd.OutOrStdout(), "node/%s already %s\n", args[0], done)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", args[0], done)
			return nil
		},
	}
}

func newDrainCmd(g *globals) *cobra.Command {
	var force, disableEviction bool
	var timeout time.Duration
	var grace int64
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and move its pods away (their controllers start them elsewhere)",
		Long: `drain cordons the node, then evicts its pods (each with its grace period; a
pod its PodDisruptionBudget cannot spare yet is tried again until it can) and
waits until they are gone, showing progress. A pod no controller manages would
be lost: drain refuses unless --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, out, node := cmd.Context(), cmd.OutOrStdout(), args[0]
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if _, err := setUnschedulable(ctx, c, node, true); err != nil {
				return err
			}
			fmt.Fprintf(out, "node/%s cordoned\n", node)
			podsRes, _ := c.Registry().ByKind("Pod")
			list, err := c.List(ctx, podsRes, client.ListOptions{FieldSelector: "spec.nodeName=" + node})
			if err != nil {
				return err
			}
			var unmanaged []string
			for _, o := range list.Items {
				if metav1.GetControllerOf(o) == nil {
					unmanaged = append(unmanaged, o.GetNamespace()+"/"+o.GetName())
				}
			}
			if len(unmanaged) > 0 && !force {
				return fmt.Errorf("cannot drain node %s: these pods are managed by no controller and would not come back: %s (--force deletes them anyway)",
					node, strings.Join(unmanaged, ", "))
			}
			opts := metav1.DeleteOptions{}
			if grace >= 0 {
				opts.GracePeriodSeconds = &grace
			}
			// Evictions: a pod a PodDisruptionBudget cannot spare now is
			// tried again until the budget allows it (its replacement
			// elsewhere becomes ready), with progress.
			pending := list.Items
			start, last := time.Now(), time.Now()
			for len(pending) > 0 {
				var blocked []apis.Object
				var why string
				for _, o := range pending {
					if o.GetDeletionTimestamp() != nil {
						continue
					}
					var err error
					if disableEviction {
						_, err = c.DeleteWithOptions(ctx, podsRes, o.GetNamespace(), o.GetName(), opts)
					} else {
						err = c.Evict(ctx, o.GetNamespace(), o.GetName(), &opts)
					}
					switch {
					case apierrors.IsTooManyRequests(err):
						blocked, why = append(blocked, o), err.Error()
						continue
					case err != nil && !apierrors.IsNotFound(err):
						return err
					}
					fmt.Fprintf(out, "evicting pod %s/%s\n", o.GetNamespace(), o.GetName())
				}
				pending = blocked
				if len(pending) == 0 {
					break
				}
				if time.Since(last) >= 2*time.Second {
					fmt.Fprintf(os.Stderr, "waiting to evict %d pod(s) (%s): %s\n", len(pending), time.Since(start).Truncate(time.Second), why)
					last = time.Now()
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("drain of node %s did not finish: %w", node, ctx.Err())
				case <-time.After(time.Second):
				}
			}
			for {
				left, err := c.List(ctx, podsRes, client.ListOptions{FieldSelector: "spec.nodeName=" + node})
				if err != nil {
					return err
				}
				if len(left.Items) == 0 {
					fmt.Fprintf(out, "node/%s drained\n", node)
					return nil
				}
				if time.Since(last) >= 2*time.Second {
					var names []string
					for _, o := range left.Items {
						names = append(names, o.GetNamespace()+"/"+o.GetName())
					}
					sort.Strings(names)
					fmt.Fprintf(os.Stderr, "waiting for %d pod(s) to stop (%s): %s\n", len(names), time.Since(start).Truncate(time.Second), strings.Join(names, ", "))
					last = time.Now()
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("drain of node %s did not finish: %w", node, ctx.Err())
				case <-time.After(300 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also delete pods no controller manages")
	cmd.Flags().BoolVar(&disableEviction, "disable-eviction", false, "delete pods instead of evicting them: PodDisruptionBudgets are not consulted")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (default: wait)")
	cmd.Flags().Int64Var(&grace, "grace-period", -1, "seconds each pod gets to stop (default: its own)")
	return cmd
}
