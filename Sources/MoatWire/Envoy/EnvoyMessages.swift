internal import CMoatProto

// The protoc-c messages of Envoy's ext_authz API (proto/envoy, proto/google; docs/envoy.md).

extension Envoy__Service__Auth__V3__CheckRequest: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_check_request_descriptor() }
}

extension Envoy__Service__Auth__V3__CheckResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_check_response_descriptor() }
}

extension Envoy__Service__Auth__V3__DeniedHttpResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_denied_http_response_descriptor() }
}

extension Envoy__Service__Auth__V3__OkHttpResponse: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_ok_http_response_descriptor() }
}

extension Envoy__Config__Core__V3__HeaderValueOption: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_header_value_option_descriptor() }
}

extension Envoy__Config__Core__V3__HeaderValue: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_header_value_descriptor() }
}

extension Envoy__Type__V3__HttpStatus: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_http_status_descriptor() }
}

extension Google__Rpc__Status: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_rpc_status_descriptor() }
}

extension Google__Protobuf__Struct: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_struct_descriptor() }
}

extension Google__Protobuf__Struct__FieldsEntry: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_struct_fields_entry_descriptor() }
}

extension Google__Protobuf__Value: CMessage {
    static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { cmoat_envoy_value_descriptor() }
}
