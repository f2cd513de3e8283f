//go:build !linux

package loadgen

import (
	"context"
	"net/http"
	"net/url"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// rawTransportName: there is no raw transport here; every request goes
// through net/http.
const rawTransportName = ""

// rawTransport exists only on Linux (epoll and SO_TIMESTAMPNS); elsewhere
// a Client's raw transport is always nil.
type rawTransport struct{}

func newRawTransport(*url.URL, http.Header, int) (*rawTransport, error) { return nil, nil }

func (*rawTransport) close() {}

func (c *Client) doRaw(context.Context, context.Context, metrics.Record, datasets.Sample, []byte, *watchdog) metrics.Record {
	panic("loadgen: no raw transport on this system")
}
