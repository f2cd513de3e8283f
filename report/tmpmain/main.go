package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vibench/vllm-inference-benchmark/report"
	"github.com/vibench/vllm-inference-benchmark/results"
)

func main() {
	st, _ := results.NewLocal(os.Args[1])
	k, err := report.Write(context.Background(), st, os.Args[2])
	fmt.Println(st.Location(k), err)
}
