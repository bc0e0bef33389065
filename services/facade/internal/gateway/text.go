package gateway

import (
	"context"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/o365gateway/gateway/services/shared/apierr"
)

// textConn refuses to send a request with a string field that is not valid
// UTF-8. gRPC cannot marshal one and would fail the call with an internal
// error; the string came from the caller (a path, query or body value), so
// the answer is InvalidRequest naming the field. The APS layer refuses most
// such requests earlier; this is the guarantee for every route.
type textConn struct{ grpc.ClientConnInterface }

// Invoke implements grpc.ClientConnInterface.
func (c textConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if m, ok := args.(proto.Message); ok {
		if field, bad := invalidText(m.ProtoReflect()); bad {
			return apierr.ToStatus(apierr.Invalid("The value of %s is not valid UTF-8.", field))
		}
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// invalidText finds a string field (at any depth, in lists and maps) that
// is not valid UTF-8 and returns its path, like "tenant.initial_subdomain".
func invalidText(m protoreflect.Message) (string, bool) {
	var path string
	var bad bool
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && !bad; i++ {
				path, bad = invalidValue(fd, l.Get(i), name)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapKey().Kind() == protoreflect.StringKind && !utf8.ValidString(k.String()) {
					path, bad = name, true
				} else {
					path, bad = invalidValue(fd.MapValue(), mv, name+"["+k.String()+"]")
				}
				return !bad
			})
		default:
			path, bad = invalidValue(fd, v, name)
		}
		return !bad
	})
	return path, bad
}

// invalidValue checks one value of field fd, named name.
func invalidValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) (string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return name, !utf8.ValidString(v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if sub, bad := invalidText(v.Message()); bad {
			return name + "." + sub, true
		}
	}
	return "", false
}
