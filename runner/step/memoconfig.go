package step

import (
	"encoding/json"
	"reflect"
)

// MemoJSON encodes a step's effective configuration as it enters the step's memo key: as encoding/json
// writes it, without the settings tagged memo:"-" (how to reach a server, its key, limits, timeouts,
// prices: changing them must not re-run recordings that are done). The fields left are encoded by a
// struct of the same fields and tags, so the bytes are those json.Marshal gave when such settings were
// hidden with json:"-" — keys of stored state stay valid.
func MemoJSON(cfg any) ([]byte, error) {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return json.Marshal(cfg)
	}
	t := v.Type()
	var fields []reflect.StructField
	var index []int
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("memo") == "-" {
			continue
		}
		if f.Anonymous || !f.IsExported() {
			if f.Anonymous {
				return json.Marshal(cfg) // StructOf cannot mirror an embedded field's promotion
			}
			continue // encoding/json skips it too
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		index = append(index, i)
	}
	if len(fields) == t.NumField() {
		return json.Marshal(cfg)
	}
	out := reflect.New(reflect.StructOf(fields)).Elem()
	for j, i := range index {
		out.Field(j).Set(v.Field(i))
	}
	return json.Marshal(out.Interface())
}
