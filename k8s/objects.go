package k8s

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
)

// GPUResource is the extended resource the NVIDIA device plugin offers.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Probe timings. The startup probe's window (startupPeriod × failures) is
// the run's ready timeout, one hour by default for a 405B model's weights:
// the kubelet does not restart a loading server that the run still waits
// for, and liveness counts only once it serves.
const (
	startupPeriod    = 10
	readinessPeriod  = 10
	readinessFailure = 3
	livenessPeriod   = 20
	livenessFailures = 6
	probeTimeout     = 10
)

// GPUProducts is the nvidia.com/gpu.product label (NVIDIA GPU feature
// discovery) that each gpu_type's pods are pinned to: the FP8 model and the
// watts-per-GPU figures are only meaningful on that product.
var GPUProducts = map[string]string{
	GPUH100: "NVIDIA-H100-80GB-HBM3",
	GPUH200: "NVIDIA-H200",
}

// Manifest is everything deployed for one run, as server-side apply
// configurations.
type Manifest struct {
	Service     *corev1ac.ServiceApplyConfiguration
	StatefulSet *appsv1ac.StatefulSetApplyConfiguration
	// DisruptionBudget forbids voluntary evictions (node drains) of the
	// run's pods; Deploy makes the StatefulSet its owner.
	DisruptionBudget *policyv1ac.PodDisruptionBudgetApplyConfiguration
	// Warnings say how the server flags were adapted to the image's vLLM
	// release (RenderArgs).
	Warnings []string
}

// Objects builds a run's objects without a cluster. GPUType must be H100 or
// H200 unless Model is set (call ResolveGPUType first for auto).
func Objects(opts Options) (Manifest, error) {
	opts = opts.withDefaults()
	if opts.RunID == "" {
		return Manifest{}, fmt.Errorf("k8s: run id is empty")
	}
	model, err := ModelFor(opts)
	if err != nil {
		return Manifest{}, err
	}
	served := opts.ServedModelName
	if served == "" {
		served = model
	}
	args, warnings, err := RenderArgs(MergeArgs(DefaultArgs(model, served), opts.VLLMArgs), opts.Image, opts.VLLMVersion)
	if err != nil {
		return Manifest{}, fmt.Errorf("k8s: %w", err)
	}
	tp, err := TensorParallelSize(args)
	if err != nil {
		return Manifest{}, err
	}
	res, shm, err := podResources(opts, tp)
	if err != nil {
		return Manifest{}, err
	}

	name := ResourceName(opts.RunID)
	labels := runLabels(opts.RunID)
	annotations := map[string]string{AnnotationRunID: opts.RunID}
	selector := map[string]string{
		LabelName:      labels[LabelName],
		LabelComponent: labels[LabelComponent],
		LabelRunID:     labels[LabelRunID],
	}

	svc := corev1ac.Service(name, opts.Namespace).
		WithLabels(labels).WithAnnotations(annotations).
		WithSpec(corev1ac.ServiceSpec().
			WithClusterIP(corev1.ClusterIPNone).
			// Per-replica DNS names resolve while a replica is still loading.
			WithPublishNotReadyAddresses(true).
			WithSelector(selector).
			WithPorts(corev1ac.ServicePort().
				WithName("http").WithPort(ServerPort).
				WithTargetPort(intstr.FromString("http"))))

	container := corev1ac.Container().
		WithName("vllm").
		WithImage(opts.Image).
		WithCommand(ServerCommand...).
		WithArgs(args...).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(ServerPort)).
		// Requests = limits: Guaranteed QoS, the last to be evicted.
		WithResources(corev1ac.ResourceRequirements().WithRequests(res).WithLimits(res)).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("model-storage").WithMountPath(ModelStorageMount),
			corev1ac.VolumeMount().WithName("dshm").WithMountPath("/dev/shm")).
		WithStartupProbe(healthProbe(startupPeriod, startupFailures(opts.ReadyTimeout))).
		WithReadinessProbe(healthProbe(readinessPeriod, readinessFailure)).
		WithLivenessProbe(healthProbe(livenessPeriod, livenessFailures))
	if opts.HFTokenSecret != "" {
		container.WithEnv(corev1ac.EnvVar().WithName("HF_TOKEN").
			WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
				corev1ac.SecretKeySelector().
					WithName(opts.HFTokenSecret).
					WithKey(opts.HFTokenSecretKey).
					WithOptional(false))))
	}
	// vLLM's image runs as root and writes its caches under /root, so the
	// root filesystem stays writable; everything else a server does not
	// need is off.
	container.WithSecurityContext(corev1ac.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault)))

	pod := corev1ac.PodSpec().
		WithAutomountServiceAccountToken(false).
		WithEnableServiceLinks(false).
		WithContainers(container).
		WithVolumes(
			corev1ac.Volume().WithName("model-storage").
				WithPersistentVolumeClaim(corev1ac.PersistentVolumeClaimVolumeSource().
					WithClaimName(opts.ModelStoragePVC)),
			corev1ac.Volume().WithName("dshm").
				WithEmptyDir(corev1ac.EmptyDirVolumeSource().
					WithMedium(corev1.StorageMediumMemory).
					WithSizeLimit(shm))).
		WithTolerations(corev1ac.Toleration().
			WithKey(string(GPUResource)).
			WithOperator(corev1.TolerationOpExists).
			WithEffect(corev1.TaintEffectNoSchedule))
	if sel := nodeSelector(opts); len(sel) > 0 {
		pod.WithNodeSelector(sel)
	}

	sts := appsv1ac.StatefulSet(name, opts.Namespace).
		WithLabels(labels).WithAnnotations(annotations).
		WithSpec(appsv1ac.StatefulSetSpec().
			WithReplicas(int32(opts.Replicas)).
			WithServiceName(name).
			// Replicas load their weights at the same time, not one by one.
			WithPodManagementPolicy(appsv1.ParallelPodManagement).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).WithAnnotations(annotations).
				WithSpec(pod)))
	pdb := policyv1ac.PodDisruptionBudget(name, opts.Namespace).
		WithLabels(labels).WithAnnotations(annotations).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMaxUnavailable(intstr.FromInt32(0)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selector)))
	return Manifest{Service: svc, StatefulSet: sts, DisruptionBudget: pdb, Warnings: warnings}, nil
}

// podResources are each replica's requests and limits (the same), and
// the /dev/shm size, which the memory must exceed.
func podResources(opts Options, gpus int) (corev1.ResourceList, resource.Quantity, error) {
	var q [3]resource.Quantity
	for i, f := range []struct{ name, value string }{{"cpu", opts.CPU}, {"memory", opts.Memory}, {"shm_size", opts.ShmSize}} {
		v, err := resource.ParseQuantity(f.value)
		if err != nil || v.Sign() <= 0 {
			return nil, resource.Quantity{}, fmt.Errorf("k8s: %s %q: want a positive quantity", f.name, f.value)
		}
		q[i] = v
	}
	if q[1].Cmp(q[2]) <= 0 {
		return nil, resource.Quantity{}, fmt.Errorf("k8s: memory %s must exceed shm_size %s (/dev/shm is charged to the pod's memory)", opts.Memory, opts.ShmSize)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    q[0],
		corev1.ResourceMemory: q[1],
		GPUResource:           *resource.NewQuantity(int64(gpus), resource.DecimalSI),
	}, q[2], nil
}

// nodeSelector pins the pods to the GPU product of their gpu_type, plus
// the request's own selector (which may name another product).
func nodeSelector(opts Options) map[string]string {
	sel := map[string]string{}
	if product, ok := GPUProducts[opts.GPUType]; ok {
		sel[GPUProductLabel] = product
	}
	for k, v := range opts.NodeSelector {
		sel[k] = v
	}
	return sel
}

// startupFailures makes the startup probe's window the ready timeout.
func startupFailures(readyTimeout time.Duration) int32 {
	period := startupPeriod * time.Second
	return int32(max(1, (readyTimeout+period-1)/period))
}

func healthProbe(period, failures int32) *corev1ac.ProbeApplyConfiguration {
	return corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath("/health").WithPort(intstr.FromInt32(ServerPort))).
		WithPeriodSeconds(period).
		WithFailureThreshold(failures).
		WithTimeoutSeconds(probeTimeout)
}

// ModelFor is the model directory under /model-storage: explicit, or the
// one that fits the GPU type.
func ModelFor(opts Options) (string, error) {
	if opts.Model != "" {
		return opts.Model, nil
	}
	switch opts.GPUType {
	case GPUH100:
		return ModelH100, nil
	case GPUH200:
		return ModelH200, nil
	case GPUAuto, "":
		return "", fmt.Errorf("k8s: gpu_type %q must be resolved from the cluster's nodes first (ResolveGPUType) or a model given", opts.GPUType)
	}
	return "", fmt.Errorf("k8s: unknown gpu_type %q (want H100, H200 or auto)", opts.GPUType)
}
