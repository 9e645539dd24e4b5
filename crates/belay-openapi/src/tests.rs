//! Unit tests: documents to tools (both versions, `$ref`, `allOf`, cycles, filters) and
//! arguments to requests (the abuse cases).

use serde_json::{Value, json};
use url::Url;

use super::*;

const PETSTORE: &str = include_str!("../fixtures/petstore.yaml");

fn catalogue(text: &str) -> Catalogue {
    catalogue_with(text, &OpenApiSpec::new("inline"))
}

fn catalogue_with(text: &str, spec: &OpenApiSpec) -> Catalogue {
    Catalogue::from_text(text, spec).unwrap_or_else(|e| panic!("{e}"))
}

fn tool<'a>(catalogue: &'a Catalogue, name: &str) -> &'a Tool {
    catalogue
        .tool(name)
        .unwrap_or_else(|| panic!("no tool {name}; have {:?}", names(catalogue)))
}

fn names(catalogue: &Catalogue) -> Vec<&str> {
    catalogue.tools.iter().map(|t| t.name.as_str()).collect()
}

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn base(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A 3.1 document: type arrays, `$ref` with a sibling description, numeric exclusives,
/// a path item by `$ref`, webhooks (ignored) and no operationId.
const V31: &str = r##"{
  "openapi": "3.1.0",
  "info": {"title": "Things", "version": "1"},
  "servers": [{"url": "https://{region}.api.example.com/v2", "variables": {"region": {"default": "eu"}}}],
  "paths": {
    "/things/{id}": {"$ref": "#/components/pathItems/Thing"},
    "/things": {
      "post": {
        "summary": "Make a thing",
        "requestBody": {"content": {"application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/Thing", "description": "The new thing."}}}},
        "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
      }
    }
  },
  "webhooks": {"thingMade": {"post": {"responses": {"200": {"description": "ok"}}}}},
  "components": {
    "pathItems": {"Thing": {"get": {"operationId": "getThing", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "exclusiveMinimum": 0}}], "responses": {"200": {"description": "ok"}}}}},
    "schemas": {
      "Thing": {"type": "object", "properties": {"name": {"type": ["string", "null"]}, "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}
    }
  }
}"##;

#[test]
fn the_petstore_becomes_one_tool_per_operation() {
    let c = catalogue(PETSTORE);
    assert_eq!(c.version, Version::V30);
    assert_eq!(c.servers, ["/v1"]);
    assert_eq!(
        names(&c),
        [
            "listPets",
            "createPet",
            "getPet",
            "deletePet",
            "get_pets_petId_owner"
        ]
    );
    let list = tool(&c, "listPets");
    assert_eq!(list.method, "GET");
    assert!(
        list.description
            .starts_with("List pets\n\nThe pets in the store")
    );
    let properties = &list.input_schema["properties"];
    assert_eq!(properties["limit"]["type"], "integer");
    assert_eq!(
        properties["limit"]["description"],
        "How many pets to return at most."
    );
    // The header parameter came through a `$ref` to components.parameters.
    assert_eq!(properties["X-Request-Id"]["type"], "string");
    assert_eq!(list.input_schema["additionalProperties"], false);
    assert!(list.input_schema.get("required").is_none());
    // An array answer is wrapped so the structured result is an object.
    let output = list
        .output_schema
        .as_ref()
        .expect("listPets has an output schema");
    assert_eq!(output["properties"]["result"]["type"], "array");
    // Pet is an allOf whose first part was a $ref: inlined, nullable turned into a type.
    let pet = &output["properties"]["result"]["items"];
    assert_eq!(
        pet["allOf"][0]["properties"]["tag"]["type"],
        json!(["string", "null"])
    );
    assert!(pet.to_string().find("$ref").is_none(), "{pet}");

    let create = tool(&c, "createPet");
    assert_eq!(create.input_schema["required"], json!(["body"]));
    assert_eq!(
        create.input_schema["properties"]["body"]["required"],
        json!(["name"])
    );
    // allOf of objects is an object: not wrapped.
    let get = tool(&c, "getPet");
    let pet = get
        .output_schema
        .as_ref()
        .expect("getPet has an output schema");
    assert!(pet.get("allOf").is_some());
    assert_eq!(pet["type"], "object", "stated at the root, as MCP wants");
    assert_eq!(get.input_schema["required"], json!(["petId"]));
    assert_eq!(
        get.input_schema["properties"]["petId"]["description"],
        "The pet's id."
    );
    assert!(tool(&c, "deletePet").output_schema.is_none());
}

#[test]
fn recursive_schemas_are_cut_where_they_repeat() {
    let c = catalogue(PETSTORE);
    let owner = tool(&c, "get_pets_petId_owner");
    let schema = owner.output_schema.as_ref().expect("owner output");
    assert_eq!(schema["properties"]["name"]["type"], "string");
    let friend = &schema["properties"]["friend"];
    assert!(
        friend["description"]
            .as_str()
            .is_some_and(|d| d.contains("recursive")),
        "{friend}"
    );
    assert!(friend.get("properties").is_none());
}

#[test]
fn a_31_document_keeps_json_schema_and_follows_path_item_refs() {
    let c = catalogue(V31);
    assert_eq!(c.version, Version::V31);
    assert_eq!(c.servers, ["https://eu.api.example.com/v2"]);
    assert_eq!(
        names(&c),
        ["post_things", "getThing"],
        "webhooks are not tools"
    );
    let get = tool(&c, "getThing");
    assert_eq!(get.input_schema["properties"]["id"]["exclusiveMinimum"], 0);
    let post = tool(&c, "post_things");
    assert_eq!(post.description, "Make a thing");
    let body = &post.input_schema["properties"]["body"];
    assert_eq!(
        body["description"], "The new thing.",
        "a $ref sibling overrides"
    );
    assert_eq!(
        body["properties"]["name"]["type"],
        json!(["string", "null"])
    );
    assert!(
        body["properties"]["parts"]["items"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("recursive"))
    );
    assert!(
        post.input_schema.get("required").is_none(),
        "body not required"
    );
    assert_eq!(
        post.output_schema.as_ref().map(|s| &s["type"]),
        Some(&json!("object"))
    );
}

#[test]
fn openapi_30_exclusive_bounds_become_json_schema() {
    let doc = r#"
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /n:
    get:
      operationId: n
      parameters:
        - {name: n, in: query, schema: {type: number, minimum: 0, exclusiveMinimum: true, maximum: 9, exclusiveMaximum: false, example: 3}}
      responses: {"200": {description: ok}}
"#;
    let c = catalogue(doc);
    let n = &tool(&c, "n").input_schema["properties"]["n"];
    assert_eq!(n["exclusiveMinimum"].as_f64(), Some(0.0));
    assert!(n.get("minimum").is_none());
    assert_eq!(n["maximum"].as_f64(), Some(9.0));
    assert!(n.get("exclusiveMaximum").is_none());
    assert!(n.get("example").is_none(), "OpenAPI-only keyword dropped");
}

fn cyclic(schemas: &str) -> String {
    format!(
        r##"{{"openapi": "3.0.3", "info": {{"title": "t", "version": "1"}},
        "paths": {{"/x": {{"post": {{"operationId": "x",
            "requestBody": {{"content": {{"application/json": {{"schema": {{"$ref": "#/components/schemas/A"}}}}}}}},
            "responses": {{"200": {{"description": "ok"}}}}}}}}}},
        "components": {{"schemas": {schemas}}}}}"##
    )
}

#[test]
fn mutual_recursion_and_self_reference_terminate() {
    let c = catalogue(&cyclic(
        r##"{"A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}, "me": {"$ref": "#/components/schemas/A"}}},
             "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}}}"##,
    ));
    let body = &tool(&c, "x").input_schema["properties"]["body"];
    assert!(
        body["properties"]["me"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("A (recursive"))
    );
    assert!(
        body["properties"]["b"]["properties"]["a"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("A (recursive"))
    );
    // A reference that points at a reference that points back: no loop either.
    let c = catalogue(&cyclic(
        r##"{"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}"##,
    ));
    assert!(c.tool("x").is_some());
}

#[test]
fn a_reference_bomb_is_refused_not_built() {
    // Each level refers to the next ten times: 10^12 nodes if inlined.
    let mut schemas = serde_json::Map::new();
    for level in 0..12 {
        let next = format!("#/components/schemas/L{}", level + 1);
        let properties: Map<String, Value> = (0..10)
            .map(|i| (format!("p{i}"), json!({"$ref": next})))
            .collect();
        schemas.insert(
            format!("L{level}"),
            json!({"type": "object", "properties": properties}),
        );
    }
    schemas.insert("L12".into(), json!({"type": "string"}));
    schemas.insert("A".into(), json!({"$ref": "#/components/schemas/L0"}));
    let c = catalogue(&cyclic(&Value::Object(schemas).to_string()));
    assert!(c.tools.is_empty());
    assert_eq!(c.skipped.len(), 1);
    assert!(
        c.skipped[0].reason.contains("grows past"),
        "{}",
        c.skipped[0].reason
    );
}

#[test]
fn deep_nesting_is_cut_at_the_depth_limit() {
    let mut schemas = serde_json::Map::new();
    for level in 0..40 {
        schemas.insert(
            format!("L{level}"),
            json!({"type": "object", "properties": {"next": {"$ref": format!("#/components/schemas/L{}", level + 1)}}}),
        );
    }
    schemas.insert("L40".into(), json!({"type": "string"}));
    schemas.insert("A".into(), json!({"$ref": "#/components/schemas/L0"}));
    let c = catalogue(&cyclic(&Value::Object(schemas).to_string()));
    let text = tool(&c, "x").input_schema.to_string();
    assert!(text.contains("nested too deep"), "{text}");
    assert!(text.matches("\"next\"").count() <= schema::MAX_DEPTH + 1);
}

#[test]
fn include_and_exclude_by_tag_and_operation() {
    let mut spec = OpenApiSpec::new("inline");
    spec.include_tags = vec!["pets".into()];
    spec.exclude_tags = vec!["admin".into()];
    spec.exclude_operations = vec!["createPet".into()];
    let c = catalogue_with(PETSTORE, &spec);
    assert_eq!(names(&c), ["listPets", "getPet", "get_pets_petId_owner"]);
    let why: Vec<(&str, &str)> = c
        .skipped
        .iter()
        .map(|s| (s.operation_id.as_deref().unwrap_or("-"), s.reason.as_str()))
        .collect();
    assert_eq!(
        why,
        [
            ("createPet", "excluded by exclude_operations"),
            ("deletePet", "excluded by exclude_tags")
        ]
    );
    let mut spec = OpenApiSpec::new("inline");
    spec.include_operations = vec!["getPet".into(), "get_pets_petId_owner".into()];
    assert_eq!(
        names(&catalogue_with(PETSTORE, &spec)),
        ["getPet", "get_pets_petId_owner"]
    );
}

#[test]
fn names_are_made_safe_and_unique() {
    let doc = r#"
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /a b/{id}:
    get:
      operationId: "get thing/by id (v2)"
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
    put:
      operationId: "get thing/by id (v2)"
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"#;
    assert_eq!(
        names(&catalogue(doc)),
        ["get_thing_by_id_v2", "get_thing_by_id_v2_2"]
    );
}

#[test]
fn what_cannot_be_sent_is_skipped_with_a_reason() {
    let doc = r#"
openapi: 3.0.0
info: {title: t, version: "1"}
paths:
  /upload:
    post:
      operationId: upload
      requestBody: {content: {multipart/form-data: {schema: {type: object}}}}
      responses: {"200": {description: ok}}
  /session:
    get:
      operationId: session
      parameters: [{name: sid, in: cookie, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /host:
    get:
      operationId: host
      parameters: [{name: Host, in: header, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /optional-host:
    get:
      operationId: optionalHost
      parameters: [{name: Host, in: header, schema: {type: string}}, {name: q, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /orphan/{id}:
    get:
      operationId: orphan
      responses: {"200": {description: ok}}
"#;
    let c = catalogue(doc);
    assert_eq!(names(&c), ["optionalHost"]);
    let props = &tool(&c, "optionalHost").input_schema["properties"];
    assert!(props.get("Host").is_none(), "{props}");
    let reasons: Vec<&str> = c.skipped.iter().map(|s| s.reason.as_str()).collect();
    // By path: /host, /orphan/{id}, /session, /upload.
    assert!(reasons[0].contains("set by the gateway"), "{reasons:?}");
    assert!(reasons[1].contains("no path parameter"), "{reasons:?}");
    assert!(reasons[2].contains("cookie"), "{reasons:?}");
    assert!(reasons[3].contains("multipart/form-data"), "{reasons:?}");
}

#[test]
fn documents_that_are_not_openapi_3_are_refused_clearly() {
    let cases = [
        (
            "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}",
            "Swagger 2.0",
        ),
        (
            "openapi: 4.0.0\ninfo: {title: t, version: '1'}\npaths: {}",
            "not supported",
        ),
        ("just: text", "no `openapi` version"),
        ("{not json", "not valid JSON"),
        (
            "openapi: 3.0.0\ninfo: {title: t}\npaths: {}",
            "not a valid OpenAPI 3.0",
        ),
    ];
    for (text, expected) in cases {
        match Catalogue::from_text(text, &OpenApiSpec::new("inline")) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => assert!(e.to_string().contains(expected), "{text}: {e}"),
        }
    }
    let external = cyclic(r#"{"A": {"$ref": "other.yaml#/Pet"}}"#);
    let c = catalogue(&external);
    assert!(
        c.skipped[0].reason.contains("only local references"),
        "{:?}",
        c.skipped
    );
}

fn prepared(tool_name: &str, arguments: Value) -> Result<request::Prepared, String> {
    let c = catalogue(PETSTORE);
    request::prepare(
        &base("http://127.0.0.1:9/v1"),
        tool(&c, tool_name),
        &args(arguments),
    )
}

fn target(p: &request::Prepared) -> String {
    format!(
        "{}{}",
        p.url.path(),
        p.url.query().map(|q| format!("?{q}")).unwrap_or_default()
    )
}

#[test]
fn path_parameters_stay_one_segment() {
    let cases = [
        ("../admin", "/v1/pets/..%2Fadmin"),
        ("../../admin", "/v1/pets/..%2F..%2Fadmin"),
        ("..%2Fadmin", "/v1/pets/..%252Fadmin"),
        ("%2e%2e", "/v1/pets/%252e%252e"),
        ("1?admin=true", "/v1/pets/1%3Fadmin%3Dtrue"),
        ("1#frag", "/v1/pets/1%23frag"),
        ("a/b", "/v1/pets/a%2Fb"),
        ("\\..\\admin", "/v1/pets/%5C..%5Cadmin"),
        ("héllo wörld", "/v1/pets/h%C3%A9llo%20w%C3%B6rld"),
        ("...", "/v1/pets/..."),
    ];
    for (id, expected) in cases {
        let p = prepared("getPet", json!({"petId": id})).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(target(&p), expected, "petId {id:?}");
        assert_eq!(p.url.host_str(), Some("127.0.0.1"));
        assert_eq!(p.url.port(), Some(9));
    }
    for id in ["..", ".", ""] {
        let refused = prepared("getPet", json!({"petId": id})).expect_err(id);
        assert!(refused.contains("one path segment"), "{id}: {refused}");
    }
    let numeric = prepared("getPet", json!({"petId": 7})).expect("a number is text");
    assert_eq!(target(&numeric), "/v1/pets/7");
    let object = prepared("getPet", json!({"petId": {"a": 1}})).expect_err("object");
    assert!(object.contains("string, number or boolean"), "{object}");
}

#[test]
fn query_values_cannot_add_parameters() {
    let p = prepared("listPets", json!({"tag": "dog&admin=true#x", "limit": 2})).expect("list");
    assert_eq!(target(&p), "/v1/pets?limit=2&tag=dog%26admin%3Dtrue%23x");
    let pairs: Vec<(String, String)> = p.url.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 2);
}

#[test]
fn header_values_with_line_breaks_are_refused() {
    for evil in ["x\r\nX-Admin: 1", "x\nHost: evil", "x\rY", "nul\0"] {
        let refused =
            prepared("listPets", json!({"X-Request-Id": evil})).expect_err("header injection");
        assert!(refused.contains("cannot carry"), "{evil:?}: {refused}");
    }
    let p = prepared("listPets", json!({"X-Request-Id": "abc-123"})).expect("plain header");
    assert_eq!(
        p.headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"abc-123"[..])
    );
}

#[test]
fn arguments_cannot_name_another_host_or_anything_undeclared() {
    for extra in [
        json!({"petId": "1", "url": "http://evil.example/"}),
        json!({"petId": "1", "host": "evil.example"}),
        json!({"petId": "1", "servers": [{"url": "http://evil.example"}]}),
        json!({"petId": "1", "Authorization": "Bearer stolen"}),
    ] {
        let refused = prepared("getPet", extra.clone()).expect_err("undeclared argument");
        assert!(refused.contains("does not take"), "{extra}: {refused}");
    }
    let missing = prepared("getPet", json!({})).expect_err("missing");
    assert!(missing.contains("needs the argument(s) petId"), "{missing}");
    let body = prepared("createPet", json!({"body": {"name": "Rex"}})).expect("body");
    assert_eq!(body.body.as_deref(), Some(&br#"{"name":"Rex"}"#[..]));
    assert_eq!(body.method, http::Method::POST);
}

#[test]
fn the_base_url_comes_from_the_configuration_or_the_document_and_is_checked() {
    let c = catalogue(PETSTORE);
    let mut spec = OpenApiSpec::new("petstore.yaml");
    let relative = base_url(&spec, &c, None).expect_err("relative server, file document");
    assert!(
        relative.to_string().contains("set `base_url`"),
        "{relative}"
    );
    let from_document = base_url(
        &spec,
        &c,
        Some(&base("https://api.example.com/docs/openapi.yaml")),
    )
    .expect("joined with the document's URL");
    assert_eq!(from_document.as_str(), "https://api.example.com/v1");

    spec.base_url = Some("http://127.0.0.1:8080/v1".into());
    let private = base_url(&spec, &c, None).expect_err("loopback");
    assert!(private.to_string().contains("allow_hosts"), "{private}");
    spec.allow_hosts = vec!["127.0.0.1".into()];
    assert!(base_url(&spec, &c, None).is_ok());

    for (url, why) in [
        ("http://api.example.com/v1", "only https"),
        ("https://user:pw@api.example.com/v1", "no user name"),
        ("https://api.example.com/v1?debug=1", "no query"),
        ("ftp://api.example.com/", "only https"),
        ("https://169.254.169.254/latest", "not a public address"),
        ("https://[::ffff:10.0.0.1]/", "not a public address"),
    ] {
        let spec = OpenApiSpec {
            base_url: Some(url.into()),
            ..OpenApiSpec::new("x")
        };
        let refused = base_url(&spec, &c, None).expect_err(url);
        assert!(refused.to_string().contains(why), "{url}: {refused}");
    }
}
