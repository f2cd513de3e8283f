// Command worker runs the stress-test workflow and its activities on
// Temporal: the orchestration task queue (workflow, deploy, wait, teardown)
// and the load task queue (prepare, load slices, aggregate), in one process
// or scaled apart with --task-queues.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

func main() {
	queues := flag.String("task-queues", "orchestration,load", "which task queues to serve: orchestration, load, or both")
	metricsAddr := flag.String("metrics-addr", envOr("WORKER_METRICS_ADDR", ":9464"), "address of the Prometheus /metrics endpoint (empty: off)")
	dev := flag.Bool("dev", os.Getenv("WORKER_DEV") != "", "console logs instead of JSON")
	flag.Parse()
	log := newLogger(*dev)
	defer log.Sync()
	if err := run(log, *queues, *metricsAddr); err != nil {
		log.Error("worker stopped", zap.Error(err))
		os.Exit(1)
	}
}

func run(log *zap.Logger, queues, metricsAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	// Every load worker of a run must write to the same store; in a pod, a
	// local directory is that pod's own and goes with it.
	if os.Getenv(results.EnvBucket) == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" && strings.Contains(queues, "load") {
		return fmt.Errorf("a load worker in a Kubernetes pod needs %s: without it results go to a directory inside this pod, lost with it and not shared with the other load workers; set it (deploy/configmap.yaml, or the chart's results.bucket)", results.EnvBucket)
	}
	opts, err := clientOptions(log)
	if err != nil {
		return err
	}
	sdkMetrics, closeMetrics := sdkMetricsHandler(reg)
	defer closeMetrics.Close()
	opts.MetricsHandler = sdkMetrics
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	defer c.Close()
	store, err := results.FromEnv(ctx, os.Getenv)
	if err != nil {
		return err
	}
	log.Info("results store", zap.String("location", store.Location("")))
	// Records a killed worker measured wait in its write-ahead logs.
	if n, err := engine.RecoverSpilled(ctx, store, os.Getenv("VIB_SPILL_DIR"), ""); err != nil {
		log.Warn("records left on disk by an earlier worker not stored yet; the next slice attempt retries", zap.Error(err))
	} else if n > 0 {
		log.Info("stored records an earlier worker left on disk", zap.Int("objects", n))
	}
	acts := &activities.Activities{
		Store: store, Log: log,
		Deployers:        deployers(log),
		SearchAttributes: registerSearchAttributes(ctx, c, opts.Namespace, log),
		Telemetry:        newTelemetry(reg),
		PrometheusURL:    os.Getenv("PROMETHEUS_URL"),
		DCGMSelector:     os.Getenv("DCGM_SELECTOR"),
		Heartbeat: func(ctx context.Context, details any) error {
			return c.RecordActivityHeartbeat(ctx, activity.GetInfo(ctx).TaskToken, details)
		},
		SpillDir: os.Getenv("VIB_SPILL_DIR"),
	}
	if metricsAddr != "" {
		srv := &http.Server{Addr: metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics endpoint", zap.Error(err))
			}
		}()
		defer srv.Close()
	}
	var workers []worker.Worker
	for _, q := range strings.Split(queues, ",") {
		switch strings.TrimSpace(q) {
		case "orchestration":
			w := worker.New(c, workflows.OrchestrationTaskQueue, worker.Options{WorkerStopTimeout: 30 * time.Second})
			w.RegisterWorkflowWithOptions(workflows.StressTestWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
			w.RegisterWorkflowWithOptions(workflows.SliceWorkflow, workflow.RegisterOptions{Name: workflows.SliceWorkflowName})
			for name, fn := range map[string]any{activities.DeployName: acts.Deploy, activities.WaitReadyName: acts.WaitReady, activities.TeardownName: acts.Teardown,
				activities.ResolveEndpointsName: acts.ResolveEndpoints, activities.WaitReplicaName: acts.WaitReplica} {
				w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
			}
			workers = append(workers, w)
		case "load":
			w := worker.New(c, workflows.LoadTaskQueue, worker.Options{WorkerStopTimeout: activities.StopFlushTimeout + 10*time.Second,
				MaxConcurrentActivityExecutionSize: 64})
			for name, fn := range map[string]any{activities.PrepareName: acts.Prepare, activities.LoadSliceName: acts.LoadSlice, activities.AggregateName: acts.Aggregate} {
				w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
			}
			workers = append(workers, w)
		default:
			return fmt.Errorf("--task-queues: unknown queue %q; allowed: orchestration, load", q)
		}
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return err
		}
	}
	log.Info("worker started", zap.String("temporal", opts.HostPort), zap.String("namespace", opts.Namespace), zap.String("task_queues", queues))
	<-ctx.Done()
	log.Info("shutting down: in-flight slices flush and heartbeat first")
	for _, w := range workers {
		w.Stop()
	}
	return nil
}

// clientOptions reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, for Temporal
// Cloud, TEMPORAL_API_KEY or TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY.
func clientOptions(log *zap.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  envOr("TEMPORAL_ADDRESS", client.DefaultHostPort),
		Namespace: envOr("TEMPORAL_NAMESPACE", client.DefaultNamespace),
		Logger:    temporalLogger{log.Sugar().WithOptions(zap.AddCallerSkip(1))},
	}
	if key := os.Getenv("TEMPORAL_API_KEY"); key != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
		opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cert, key := os.Getenv("TEMPORAL_TLS_CERT"), os.Getenv("TEMPORAL_TLS_KEY"); cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return opts, fmt.Errorf("TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY: %w", err)
		}
		opts.ConnectionOptions.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// sdkMetricsHandler exposes the Temporal SDK's own metrics (task latencies,
// poll counts, activity failures) in the worker's Prometheus registry.
func sdkMetricsHandler(reg *prometheus.Registry) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(scope), closer
}

// registerSearchAttributes adds the workflow's search attributes the
// namespace lacks (a namespace set up by an older release has only some);
// false when they cannot all be there with their types: the workflow then
// sets none, since setting an unregistered one would fail its task.
func registerSearchAttributes(ctx context.Context, c client.Client, ns string, log *zap.Logger) bool {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		log.Warn("cannot list the namespace's search attributes; runs are not marked with them", zap.Error(err))
		return false
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, k := range workflows.SearchAttributes {
		got, ok := have.GetCustomAttributes()[k.GetName()]
		switch {
		case !ok:
			missing[k.GetName()] = k.GetValueType()
		case got != k.GetValueType():
			log.Warn("a search attribute has another type on this namespace; runs are not marked with them",
				zap.String("attribute", k.GetName()), zap.Stringer("type", got), zap.Stringer("want", k.GetValueType()))
			return false
		}
	}
	if len(missing) == 0 {
		return true
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err == nil || errors.As(err, &exists) { // exists: another worker added them first
		return true
	}
	log.Warn("search attributes unavailable; runs cannot be filtered by them (register them: see README)", zap.Error(err))
	return false
}

// deployers are the targets this worker can deploy to: existing servers
// always, Kubernetes when it runs in a cluster or has a kubeconfig.
func deployers(log *zap.Logger) map[string]activities.Deployer {
	d := map[string]activities.Deployer{"existing": activities.Existing{}}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		log.Info("no Kubernetes access (in-cluster or kubeconfig); deploy \"kubernetes\" is unavailable on this worker", zap.Error(err))
		return d
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Warn("Kubernetes client", zap.Error(err))
		return d
	}
	d["kubernetes"] = activities.Kubernetes{Client: cs}
	return d
}

func newLogger(dev bool) *zap.Logger {
	var l *zap.Logger
	var err error
	if dev {
		l, err = zap.NewDevelopment()
	} else {
		l, err = zap.NewProduction()
	}
	if err != nil {
		panic(err)
	}
	return l
}

// temporalLogger routes the SDK's logs to zap.
type temporalLogger struct{ s *zap.SugaredLogger }

func (l temporalLogger) Debug(msg string, kv ...any) { l.s.Debugw(msg, kv...) }
func (l temporalLogger) Info(msg string, kv ...any)  { l.s.Infow(msg, kv...) }
func (l temporalLogger) Warn(msg string, kv ...any)  { l.s.Warnw(msg, kv...) }
func (l temporalLogger) Error(msg string, kv ...any) { l.s.Errorw(msg, kv...) }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
