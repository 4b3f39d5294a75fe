package server

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/skiffhq/skiff/apis"
	"net/http"
	"sync"

	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const podEvictionPattern = "POST /api/v1/namespaces/{namespace}/pods/{name}/eviction"

// evictionMu serializes this master's evictions, so that two of them
// cannot both spend a budget's last allowed disruption. (Evictions sent to
// different masters at once still can: the budget is computed, not
// stored.)
var evictionMu sync.Mutex

// podEvict is the eviction API: it deletes the pod, as a delete would,
// unless a PodDisruptionBudget selecting it would then have fewer healthy
// pods than it requires: 429, as in Kubernetes, and the caller (drain)
// tries again later.
func (s *Server) podEvict(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if err := s.authorize(r, auth.Attributes{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: ns, Name: name, Namespaced: true}); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var ev policyv1.Eviction
	if err := json.Unmarshal(body, &ev); err != nil {
		writeError(w, badRequest("the body is not a policy/v1 Eviction: %v", err))
		return
	}
	if ev.Name != "" && ev.Name != name {
		writeError(w, badRequest("metadata.name %q does not match the pod %q of the path", ev.Name, name))
		return
	}
	opts := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions
	}
	evictionMu.Lock()
	defer evictionMu.Unlock()
	podsRes, _ := s.reg.ByKind("Pod")
	rec, err := s.store.Get(r.Context(), podsRes, ns, name, false)
	if err != nil {
		writeError(w, err)
		return
	}
	pod := rec.Object().(*corev1.Pod)
	if pod.DeletionTimestamp == nil && apis.PodReady(pod) {
		if err := s.checkBudgets(r.Context(), pod); err != nil {
			writeError(w, err)
			return
		}
	}
	t := &target{res: podsRes, namespace: ns, name: name}
	pre := storage.Preconditions{UID: string(pod.UID)}
	if _, handled, err := s.gracefulDelete(r.Context(), t, opts, pre); handled || err != nil {
		if err != nil {
			writeError(w, err)
			return
		}
	} else if _, _, err := storage.DeleteHonouringFinalizers(r.Context(), s.store, podsRes, ns, name, pre, "", s.cfg.Now()); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
}

// checkBudgets refuses the eviction of a healthy pod that a budget
// cannot spare.
func (s *Server) checkBudgets(ctx context.Context, pod *corev1.Pod) error {
	pdbRes, _ := s.reg.ByKind("PodDisruptionBudget")
	podsRes, _ := s.reg.ByKind("Pod")
	l, err := s.store.List(ctx, pdbRes, storage.ListOptions{Selection: storage.Selection{Namespace: pod.Namespace}})
	if err != nil {
		return err
	}
	var budgets []*policyv1.PodDisruptionBudget
	for _, rec := range l.Items {
		b := rec.Object().(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		// policy/v1: an empty selector selects every pod of the namespace
		// (a missing one, none), as the disruption controller counts.
		if err == nil && sel.Matches(labels.Set(pod.Labels)) {
			budgets = append(budgets, b)
		}
	}
	switch len(budgets) {
	case 0:
		return nil
	case 1:
	default:
		return apierrors.NewInternalError(fmt.Errorf("this pod has more than one PodDisruptionBudget, which the eviction subresource does not support"))
	}
	b := budgets[0]
	sel, _ := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	pods, err := s.store.List(ctx, podsRes, storage.ListOptions{Selection: storage.Selection{Namespace: pod.Namespace, Labels: sel}})
	if err != nil {
		return err
	}
	selected := make([]*corev1.Pod, 0, len(pods.Items))
	for _, rec := range pods.Items {
		selected = append(selected, rec.Object().(*corev1.Pod))
	}
	_, healthy, desired, err := apis.BudgetHealth(b, selected)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if healthy-1 >= desired {
		return nil
	}
	st := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
	st.ErrStatus.Details = &metav1.StatusDetails{Name: pod.Name, Group: "policy", Kind: "poddisruptionbudgets",
		Causes: []metav1.StatusCause{{Type: "DisruptionBudget",
			Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", b.Name, desired, healthy)}}}
	st.ErrStatus.Message += fmt.Sprintf(" The disruption budget %s needs %d healthy pods and has %d currently.", b.Name, desired, healthy)
	return st
}
