// Package k8stest starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, with KWOK
// playing the kubelets of fake GPU nodes. Pods on those nodes become
// Running and Ready without containers and get loopback IPs (127.0.1.x), so
// a server listening on 0.0.0.0 in the test answers at every pod's IP.
//
// The binaries come from scripts/k8s-tools.sh (.cache/bin, or the directory
// in VIB_TOOLS_BIN). Without them Start skips the test, or fails it when
// VIB_TOOLS_BIN or CI is set (internal/testtools).
package k8stest

import (
	"github.com/vibench/vllm-inference-benchmark/internal/testtools"

	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vibench/vllm-inference-benchmark/internal/freeport"
)

// Cluster is a running control plane.
type Cluster struct {
	dir        string
	server     string // https://127.0.0.1:<port>
	kubeconfig string
	config     *rest.Config
	clientset  *kubernetes.Clientset
	procs      []*process
	nodes      int // fake nodes added; each gets its own loopback pod CIDR
}

// StagesFile is the name of the KWOK Stage objects next to the binaries.
const StagesFile = "kwok-stages.yaml"

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", StagesFile}

// Start runs a control plane for t and stops it when t ends. It returns
// once the API server is ready (about 4 s on two cores); the controllers,
// the scheduler and KWOK come up meanwhile (AddGPUNode waits for KWOK).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := toolsDir(t)
	start := time.Now()
	c := &Cluster{dir: t.TempDir()}
	t.Cleanup(c.stop)
	t.Cleanup(func() {
		if t.Failed() {
			c.logTails(t)
		}
	})

	etcdPort, peerPort := freeport.Port(t), freeport.Port(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	c.run(t, "etcd", filepath.Join(bin, "etcd"),
		"--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort))

	saKey, saPub := c.serviceAccountKeys(t)
	token := randomHex(t)
	tokens := filepath.Join(c.dir, "tokens.csv")
	writeFile(t, tokens, token+",admin,admin,system:masters\n")
	apiPort := freeport.Port(t)
	c.server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.run(t, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"),
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--bind-address=127.0.0.1",
		"--service-cluster-ip-range=10.96.0.0/16",
		// With WatchList on, a watch from resourceVersion 0 (KWOK's) becomes
		// a watch stream, which needs etcd's progress notifications; Debian's
		// etcd 3.4.23 lacks them, so every such watch fails and KWOK backs
		// off for up to 30 s: pods would start and go away that late.
		"--feature-gates=WatchList=false")

	c.config = &rest.Config{Host: c.server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: 100, Burst: 200}
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	c.writeKubeconfig(t, c.kubeconfig, "admin", token)
	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		t.Fatal(err)
	}
	c.clientset = cs
	c.waitReadyz(t, 2*time.Minute)

	kc := "--kubeconfig=" + c.kubeconfig
	c.run(t, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		kc, "--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--service-account-private-key-file="+saKey,
		"--controllers=*,-serviceaccount-token",
		"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freeport.Port(t)))
	c.run(t, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		kc, "--authentication-kubeconfig="+c.kubeconfig, "--authorization-kubeconfig="+c.kubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", freeport.Port(t)))
	c.run(t, "kwok", filepath.Join(bin, "kwok"),
		kc, "--config="+filepath.Join(bin, StagesFile),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=127.0.1.0/24", "--node-ip=127.0.0.1")
	t.Logf("k8stest: control plane at %s ready in %s (kubeconfig %s)", c.server, time.Since(start).Round(100*time.Millisecond), c.kubeconfig)
	return c
}

// Kubeconfig is the path of a kubeconfig file for the cluster's admin
// (group system:masters).
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig is a copy of the admin's client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Clientset is the admin's client.
func (c *Cluster) Clientset() *kubernetes.Clientset { return c.clientset }

// toolsDir is the directory with every binary the cluster needs.
func toolsDir(t testing.TB) string {
	t.Helper()
	for _, b := range binaries {
		testtools.Bin(t, b, "scripts/k8s-tools.sh")
	}
	return testtools.Dir()
}

// serviceAccountKeys writes the key pair that signs ServiceAccount tokens.
func (c *Cluster) serviceAccountKeys(t testing.TB) (keyFile, pubFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile = filepath.Join(c.dir, "sa.key"), filepath.Join(c.dir, "sa.pub")
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	writeFile(t, pubFile, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
	return keyFile, pubFile
}

// writeKubeconfig writes a kubeconfig that authenticates with a bearer
// token (the API server's certificate is self-signed).
func (c *Cluster) writeKubeconfig(t testing.TB, path, user, token string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k8stest"] = &clientcmdapi.Cluster{Server: c.server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["k8stest"] = &clientcmdapi.Context{Cluster: "k8stest", AuthInfo: user}
	cfg.CurrentContext = "k8stest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) waitReadyz(t testing.TB, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for {
		body, err := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return
		}
		last = fmt.Sprint(err)
		if exited := c.exited(); exited != "" {
			t.Fatalf("k8stest: %s exited while waiting for the API server", exited)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("k8stest: API server not ready after %s: %s", timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// process is one component, logging to a file in the cluster's directory.
type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *Cluster) run(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	p := &process{name: name, log: filepath.Join(c.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = dieWithParent()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("k8stest: start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
}

// exited names a component that has stopped, if any.
func (c *Cluster) exited() string {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return p.name
		default:
		}
	}
	return ""
}

// stop ends the components in reverse order of start.
func (c *Cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

// logTails shows the end of each component's log to explain a failure.
func (c *Cluster) logTails(t testing.TB) {
	for _, p := range c.procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Logf("k8stest: last lines of %s:\n%s", p.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
