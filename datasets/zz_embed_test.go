package datasets_test

import "os"

func sonnet() string { b, _ := os.ReadFile("sonnet.txt"); return string(b) }
