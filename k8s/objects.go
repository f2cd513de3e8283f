package k8s

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

// GPUResource is the extended resource the NVIDIA device plugin offers.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Probe timings. The startup probe gives a 405B model an hour to load its
// weights (360 × 10 s) before liveness starts counting.
const (
	startupPeriod    = 10
	startupFailures  = 360
	readinessPeriod  = 10
	readinessFailure = 3
	livenessPeriod   = 20
	livenessFailures = 6
	probeTimeout     = 10
)

// Manifest is everything deployed for one run, as server-side apply
// configurations.
type Manifest struct {
	Service     *corev1ac.ServiceApplyConfiguration
	StatefulSet *appsv1ac.StatefulSetApplyConfiguration
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
	args := MergeArgs(DefaultArgs(model, served), opts.VLLMArgs)
	tp, err := TensorParallelSize(args)
	if err != nil {
		return Manifest{}, err
	}
	shm, err := resource.ParseQuantity(opts.ShmSize)
	if err != nil {
		return Manifest{}, fmt.Errorf("k8s: shm size %q: %w", opts.ShmSize, err)
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

	gpus := resource.NewQuantity(int64(tp), resource.DecimalSI)
	container := corev1ac.Container().
		WithName("vllm").
		WithImage(opts.Image).
		WithCommand(ServerCommand...).
		WithArgs(args...).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(ServerPort)).
		WithResources(corev1ac.ResourceRequirements().
			WithRequests(corev1.ResourceList{GPUResource: *gpus}).
			WithLimits(corev1.ResourceList{GPUResource: *gpus})).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("model-storage").WithMountPath(ModelStorageMount),
			corev1ac.VolumeMount().WithName("dshm").WithMountPath("/dev/shm")).
		WithStartupProbe(healthProbe(startupPeriod, startupFailures)).
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

	pod := corev1ac.PodSpec().
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
	if len(opts.NodeSelector) > 0 {
		pod.WithNodeSelector(opts.NodeSelector)
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
	return Manifest{Service: svc, StatefulSet: sts}, nil
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
