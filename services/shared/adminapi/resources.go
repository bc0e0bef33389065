package adminapi

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/authz"
)

// ListResources implements the RPC.
func (s *Server) ListResources(ctx context.Context, req *adminv1.ListResourcesRequest) (*adminv1.ListResourcesResponse, error) {
	if err := s.owns(req.GetType()); err != nil {
		return nil, err
	}
	if err := authz.RequireInstance(ctx, req.GetInstanceId()); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultJobPage
	}
	if size > maxJobPage {
		return nil, apierr.Invalid("page_size must be at most %d.", maxJobPage)
	}
	if len(req.GetPageToken()) > 512 {
		return nil, apierr.Invalid("page_token is not a token this service answered.")
	}
	list, next, err := s.Resources.List(ctx, req.GetType(), req.GetInstanceId(), req.GetTenantId(), req.GetPageToken(), size)
	if err != nil {
		return nil, err
	}
	return &adminv1.ListResourcesResponse{Resources: list, NextPageToken: next}, nil
}

// GetResource implements the RPC.
func (s *Server) GetResource(ctx context.Context, req *adminv1.GetResourceRequest) (*adminv1.GetResourceResponse, error) {
	if err := s.owns(req.GetType()); err != nil {
		return nil, err
	}
	if req.GetInstanceId() == "" || req.GetId() == "" {
		return nil, apierr.Invalid("instance_id and id are required.")
	}
	if err := authz.RequireInstance(ctx, req.GetInstanceId()); err != nil {
		return nil, err
	}
	r, err := s.Resources.Get(ctx, req.GetType(), req.GetInstanceId(), req.GetId())
	if err != nil {
		return nil, err
	}
	return &adminv1.GetResourceResponse{Resource: r}, nil
}

// owns checks that the service keeps resources of typ.
func (s *Server) owns(typ string) error {
	if s.Resources == nil || !slices.Contains(s.Resources.Types(), typ) {
		return apierr.New(codes.NotFound, apierr.NotFound, "This service keeps no resources of type %q.", typ)
	}
	return nil
}

// Page cuts one page out of items listed whole: those whose id sorts after
// token, in id order, at most size, and the token of the next page.
func Page[T any](items []T, id func(T) string, token string, size int) ([]T, string) {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b T) int {
		switch x, y := id(a), id(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	start, _ := slices.BinarySearchFunc(sorted, token, func(v T, t string) int {
		switch x := id(v); {
		case x <= t:
			return -1
		}
		return 1
	})
	end := min(start+size, len(sorted))
	next := ""
	if end < len(sorted) {
		next = id(sorted[end-1])
	}
	return sorted[start:end], next
}

// Struct builds a resource's details, leaving out empty values.
func Struct(fields map[string]any) *structpb.Struct {
	m := map[string]any{}
	for k, v := range fields {
		switch x := v.(type) {
		case string:
			if x == "" {
				continue
			}
		case nil:
			continue
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		case []string:
			l := make([]any, len(x))
			for i, s := range x {
				l[i] = s
			}
			v = l
		}
		m[k] = v
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil
	}
	return s
}
