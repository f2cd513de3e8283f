// Command fakes3 serves an in-memory S3-compatible API (gofakes3) so scripts
// and end-to-end tests can run the results store against a separate process.
// It prints "fakes3 listening on http://ADDR" once it accepts connections and
// stops on SIGINT or SIGTERM; objects live only in memory.
//
//	fakes3 --addr 127.0.0.1:9000 --bucket benchmark-results
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (port 0 picks a free port)")
	bucket := flag.String("bucket", "benchmark-results", "buckets to create, comma-separated")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fakes3 listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, ln, strings.Split(*bucket, ",")); err != nil {
		log.Fatal(err)
	}
}

// serve answers S3 requests on ln until ctx ends, then shuts down cleanly.
func serve(ctx context.Context, ln net.Listener, buckets []string) error {
	h, err := s3test.NewHandler(buckets...)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
