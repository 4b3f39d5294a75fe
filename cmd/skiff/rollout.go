package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

func newRolloutCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "rollout", Short: "Follow and steer a Deployment's rollouts"}
	deployment := func(cmd *cobra.Command, args []string) (*client.Client, *appsv1.Deployment, error) {
		c, err := g.client()
		if err != nil {
			return nil, nil, err
		}
		res, name, err := workloadArg(c.Registry(), args, "Deployment")
		if err != nil {
			return nil, nil, err
		}
		obj, err := c.Get(cmd.Context(), res, g.ns(), name)
		if err != nil {
			return nil, nil, err
		}
		return c, obj.(*appsv1.Deployment), nil
	}

	var timeout time.Duration
	status := &cobra.Command{
		Use:   "status deployment/NAME",
		Short: "Watch a rollout until it completes (exit 0) or fails (exit 1)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, d, err := deployment(cmd, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			res, _ := c.Registry().ByKind("Deployment")
			last := ""
			for {
				msg, done, err := rolloutState(d)
				if err != nil {
					return err
				}
				if msg != last {
					fmt.Fprintln(cmd.OutOrStdout(), msg)
					last = msg
				}
				if done {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("timed out waiting for the rollout of deployment %q", d.Name)
				case <-time.After(500 * time.Millisecond):
				}
				obj, err := c.Get(ctx, res, d.Namespace, d.Name)
				if err != nil {
					return err
				}
				d = obj.(*appsv1.Deployment)
			}
		},
	}
	status.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (default: wait until done or failed)")

	history := &cobra.Command{
		Use:   "history deployment/NAME",
		Short: "List a Deployment's revisions",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, d, err := deployment(cmd, args)
			if err != nil {
				return err
			}
			rss, err := ownedReplicaSets(cmd.Context(), c, d)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "REVISION\tREPLICASET\tIMAGES\tCHANGE-CAUSE")
			for _, rs := range rss {
				var images []string
				for _, ct := range rs.Spec.Template.Spec.Containers {
					images = append(images, ct.Image)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", rs.Annotations[revisionAnnotation], rs.Name, strings.Join(images, ","),
					orNone(rs.Annotations["kubernetes.io/change-cause"]))
			}
			return w.Flush()
		},
	}

	var toRevision int64
	undo := &cobra.Command{
		Use:   "undo deployment/NAME [--to-revision N]",
		Short: "Roll back to the previous (or a given) revision",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, d, err := deployment(cmd, args)
			if err != nil {
				return err
			}
			rss, err := ownedReplicaSets(cmd.Context(), c, d)
			if err != nil {
				return err
			}
			if len(rss) == 0 {
				return fmt.Errorf("deployment %q has no revisions yet", d.Name)
			}
			current := d.Annotations[revisionAnnotation]
			var target *appsv1.ReplicaSet
			for i := len(rss) - 1; i >= 0; i-- {
				rev := rss[i].Annotations[revisionAnnotation]
				if toRevision > 0 && rev == strconv.FormatInt(toRevision, 10) || toRevision == 0 && rev != current {
					target = rss[i]
					break
				}
			}
			if target == nil {
				if toRevision > 0 {
					return fmt.Errorf("deployment %q has no revision %d (see skiff rollout history)", d.Name, toRevision)
				}
				return fmt.Errorf("deployment %q has no revision before %s", d.Name, current)
			}
			tmpl := target.Spec.Template.DeepCopy()
			delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			res, _ := c.Registry().ByKind("Deployment")
			upd := d.DeepCopy()
			upd.Spec.Template = *tmpl
			if _, err := c.Update(cmd.Context(), upd); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s rolled back to revision %s\n", kindName(res, d), target.Annotations[revisionAnnotation])
			return nil
		},
	}
	undo.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to go back to (default: the one before the current)")

	restart := &cobra.Command{
		Use:   "restart deployment/NAME",
		Short: "Replace every pod of a Deployment by a rolling update",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, d, err := deployment(cmd, args)
			if err != nil {
				return err
			}
			res, _ := c.Registry().ByKind("Deployment")
			patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
				"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": time.Now().UTC().Format(time.RFC3339)}}}}}
			if _, err := patchSpec(cmd.Context(), c, res, d.Namespace, d.Name, patch); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s restarted\n", kindName(res, d))
			return nil
		},
	}
	pause := func(paused bool, verb string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " deployment/NAME",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " a Deployment's rollouts",
			Args:  cobra.RangeArgs(1, 2),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, d, err := deployment(cmd, args)
				if err != nil {
					return err
				}
				res, _ := c.Registry().ByKind("Deployment")
				if d.Spec.Paused == paused {
					return fmt.Errorf("%s is already %sd", kindName(res, d), verb)
				}
				if _, err := patchSpec(cmd.Context(), c, res, d.Namespace, d.Name, map[string]any{"spec": map[string]any{"paused": paused}}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %sd\n", kindName(res, d), verb)
				return nil
			},
		}
	}
	for _, sub := range []*cobra.Command{status, history, undo, restart, pause(true, "pause"), pause(false, "resume")} {
		g.addNamespaceFlag(sub)
		root.AddCommand(sub)
	}
	return root
}

// rolloutState says where a rollout stands, in kubectl's words: done, or
// what it waits for; a passed progress deadline is an error.
func rolloutState(d *appsv1.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline: %s", d.Name, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case d.Spec.Paused:
		return fmt.Sprintf("deployment %q is paused (skiff rollout resume to continue)", d.Name), false, nil
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, want), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// ownedReplicaSets returns the Deployment's ReplicaSets, oldest revision
// first.
func ownedReplicaSets(ctx context.Context, c *client.Client, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	res, _ := c.Registry().ByKind("ReplicaSet")
	list, err := c.List(ctx, res, client.ListOptions{Namespace: d.Namespace})
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	for _, o := range list.Items {
		rs := o.(*appsv1.ReplicaSet)
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	rev := func(rs *appsv1.ReplicaSet) int64 {
		n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		return n
	}
	sort.Slice(out, func(i, j int) bool { return rev(out[i]) < rev(out[j]) })
	return out, nil
}
