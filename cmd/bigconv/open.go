package main

// Every input format registers itself.
import _ "github.com/bigconv/bigconv/format/all"
