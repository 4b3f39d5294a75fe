package validation

import (
	"fmt"
	"path"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var accessModes = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)

// PersistentVolumeClaim checks a claim: access modes, a storage request,
// a filesystem volume mode; once created, only the binding fields
// (volumeName, a storageClassName not yet set) change.
func PersistentVolumeClaim(obj, old apis.Object) field.ErrorList {
	c := obj.(*corev1.PersistentVolumeClaim)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	errs = append(errs, volumeAccessModes(c.Spec.AccessModes, specPath.Child("accessModes"))...)
	rp := specPath.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(rp, "the size the claim asks for, e.g. 1Gi"))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(rp, q.String(), "must be greater than zero"))
	}
	if cls := c.Spec.StorageClassName; cls != nil && *cls != "" {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(*cls) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), *cls, msg))
		}
	}
	errs = append(errs, filesystemMode(c.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if c.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(c.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("selector"))...)
	}
	if old == nil {
		return errs
	}
	o := old.(*corev1.PersistentVolumeClaim)
	// The binding fields may be filled in once; everything else is fixed
	// at creation (skiff does not expand volumes).
	want := o.Spec.DeepCopy()
	if want.VolumeName == "" {
		want.VolumeName = c.Spec.VolumeName
	}
	if want.StorageClassName == nil {
		want.StorageClassName = c.Spec.StorageClassName
	}
	if !equality.Semantic.DeepEqual(*want, c.Spec) {
		errs = append(errs, field.Forbidden(specPath, "a claim's spec is immutable once created, except volumeName and storageClassName while they are unset"))
	}
	return errs
}

// PersistentVolume checks a volume: capacity, access modes, exactly one
// source, a local volume pinned to nodes, and a reclaim policy skiff
// carries out.
func PersistentVolume(obj, old apis.Object) field.ErrorList {
	v := obj.(*corev1.PersistentVolume)
	errs := ObjectMeta(obj, old, false, DNSSubdomainName)
	errs = append(errs, volumeAccessModes(v.Spec.AccessModes, specPath.Child("accessModes"))...)
	cp := specPath.Child("capacity").Key(string(corev1.ResourceStorage))
	if q, ok := v.Spec.Capacity[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(cp, "the volume's size, e.g. 10Gi"))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(cp, q.String(), "must be greater than zero"))
	}
	for name := range v.Spec.Capacity {
		if name != corev1.ResourceStorage {
			errs = append(errs, field.NotSupported(specPath.Child("capacity").Key(string(name)), name, []string{string(corev1.ResourceStorage)}))
		}
	}
	switch n := countSet(v.Spec.PersistentVolumeSource); {
	case n != 1:
		errs = append(errs, field.Invalid(specPath, "", fmt.Sprintf("must specify exactly one volume source (local or hostPath), found %d", n)))
	case v.Spec.Local != nil:
		if !path.IsAbs(v.Spec.Local.Path) {
			errs = append(errs, field.Invalid(specPath.Child("local", "path"), v.Spec.Local.Path, "must be an absolute path"))
		}
		if v.Spec.NodeAffinity == nil || v.Spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity", "required"), "a local volume must say which node it is on"))
		}
	case v.Spec.HostPath != nil:
		if !path.IsAbs(v.Spec.HostPath.Path) {
			errs = append(errs, field.Invalid(specPath.Child("hostPath", "path"), v.Spec.HostPath.Path, "must be an absolute path"))
		}
	}
	if na := v.Spec.NodeAffinity; na != nil && na.Required != nil {
		errs = append(errs, nodeSelector(na.Required, specPath.Child("nodeAffinity", "required"))...)
	}
	switch p := v.Spec.PersistentVolumeReclaimPolicy; p {
	case corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete:
	default:
		errs = append(errs, field.NotSupported(specPath.Child("persistentVolumeReclaimPolicy"), p, []string{"Retain", "Delete"}))
	}
	if cls := v.Spec.StorageClassName; cls != "" {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(cls) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), cls, msg))
		}
	}
	errs = append(errs, filesystemMode(v.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if old != nil {
		o := old.(*corev1.PersistentVolume)
		if !equality.Semantic.DeepEqual(o.Spec.PersistentVolumeSource, v.Spec.PersistentVolumeSource) {
			errs = append(errs, field.Forbidden(specPath, "a volume's source is immutable once created"))
		}
		if !equality.Semantic.DeepEqual(o.Spec.NodeAffinity, v.Spec.NodeAffinity) {
			errs = append(errs, field.Forbidden(specPath.Child("nodeAffinity"), "field is immutable"))
		}
	}
	return errs
}

// StorageClass checks a class: a provisioner, a reclaim policy and a
// binding mode skiff knows; all fixed once created.
func StorageClass(obj, old apis.Object) field.ErrorList {
	sc := obj.(*storagev1.StorageClass)
	errs := ObjectMeta(obj, old, false, DNSSubdomainName)
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(field.NewPath("provisioner"), "e.g. "+apis.LocalPathProvisioner))
	} else {
		for _, msg := range utilvalidation.IsQualifiedName(sc.Provisioner) {
			errs = append(errs, field.Invalid(field.NewPath("provisioner"), sc.Provisioner, msg))
		}
	}
	if p := sc.ReclaimPolicy; p != nil && *p != corev1.PersistentVolumeReclaimDelete && *p != corev1.PersistentVolumeReclaimRetain {
		errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), *p, []string{"Delete", "Retain"}))
	}
	if m := sc.VolumeBindingMode; m != nil && *m != storagev1.VolumeBindingImmediate && *m != storagev1.VolumeBindingWaitForFirstConsumer {
		errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), *m, []string{"Immediate", "WaitForFirstConsumer"}))
	}
	if sc.Provisioner == apis.LocalPathProvisioner {
		if m := sc.VolumeBindingMode; m != nil && *m != storagev1.VolumeBindingWaitForFirstConsumer {
			errs = append(errs, field.Invalid(field.NewPath("volumeBindingMode"), *m, "the local-path provisioner needs WaitForFirstConsumer: a claim is made on its first pod's node"))
		}
		for k, v := range sc.Parameters {
			switch {
			case k != "path":
				errs = append(errs, field.NotSupported(field.NewPath("parameters").Key(k), k, []string{"path"}))
			case !path.IsAbs(v):
				errs = append(errs, field.Invalid(field.NewPath("parameters").Key(k), v, "must be an absolute path"))
			}
		}
	}
	if old != nil {
		o := old.(*storagev1.StorageClass)
		if o.Provisioner != sc.Provisioner || !equality.Semantic.DeepEqual(o.Parameters, sc.Parameters) ||
			!equality.Semantic.DeepEqual(o.ReclaimPolicy, sc.ReclaimPolicy) || !equality.Semantic.DeepEqual(o.VolumeBindingMode, sc.VolumeBindingMode) {
			errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "provisioner, parameters, reclaimPolicy and volumeBindingMode are immutable"))
		}
	}
	return errs
}

func volumeAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(p, "at least one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod")}
	}
	var errs field.ErrorList
	for i, m := range modes {
		if !accessModes.Has(m) {
			errs = append(errs, field.NotSupported(p.Index(i), m, []string{"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}))
		}
	}
	return errs
}

func filesystemMode(m *corev1.PersistentVolumeMode, p *field.Path) field.ErrorList {
	if m != nil && *m != corev1.PersistentVolumeFilesystem {
		return field.ErrorList{field.NotSupported(p, *m, []string{"Filesystem"})}
	}
	return nil
}

// nodeSelector checks required node affinity terms: at least one term,
// known operators, values as each operator needs.
func nodeSelector(ns *corev1.NodeSelector, p *field.Path) field.ErrorList {
	tp := p.Child("nodeSelectorTerms")
	if len(ns.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(tp, "at least one term")}
	}
	var errs field.ErrorList
	for i, t := range ns.NodeSelectorTerms {
		for j, r := range t.MatchExpressions {
			rp := tp.Index(i).Child("matchExpressions").Index(j)
			errs = append(errs, nodeRequirement(r, rp)...)
		}
		for j, r := range t.MatchFields {
			rp := tp.Index(i).Child("matchFields").Index(j)
			if r.Key != "metadata.name" {
				errs = append(errs, field.NotSupported(rp.Child("key"), r.Key, []string{"metadata.name"}))
			}
			errs = append(errs, nodeRequirement(r, rp)...)
		}
	}
	return errs
}

func nodeRequirement(r corev1.NodeSelectorRequirement, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if r.Key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(p.Child("values"), "In and NotIn need values"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			errs = append(errs, field.Forbidden(p.Child("values"), "Exists and DoesNotExist take no values"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "Gt and Lt take one integer"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("operator"), r.Operator, []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}))
	}
	return errs
}
