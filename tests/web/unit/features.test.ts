// Reading a route's accepted actions out of the OpenAPI document
// (web/src/lib/features.ts): the Drain button appears only when the
// document's enum lists "drain".
import { actionsIn, deref } from "../../../web/src/lib/features";

const doc = {
  paths: {
    "/v1/hosts/{id}/actions": {
      post: { requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/HostAction" } } } } },
    },
    "/v1/instances/{id}/actions": {
      post: { requestBody: { $ref: "#/components/requestBodies/Act" } },
    },
    "/v1/flavors": { post: { requestBody: { content: { "application/json": { schema: { type: "object" } } } } } },
  },
  components: {
    schemas: {
      HostAction: { type: "object", properties: { action: { type: "string", enum: ["reset-credential", "force-remove", "drain", "undrain"] } } },
      InstanceAction: { type: "object", properties: { action: { $ref: "#/components/schemas/ActionName" } } },
      ActionName: { type: "string", enum: ["start", "stop", "migrate"] },
    },
    requestBodies: { Act: { content: { "application/json": { schema: { $ref: "#/components/schemas/InstanceAction" } } } } },
  },
};

describe("actionsIn", () => {
  it("reads the action enum through $refs", () => {
    expect(actionsIn(doc, "/v1/hosts/{id}/actions")).toContain("drain");
    expect(actionsIn(doc, "/v1/instances/{id}/actions")).toEqual(["start", "stop", "migrate"]);
  });
  it("is empty for a route without actions, an unknown route or no document", () => {
    expect(actionsIn(doc, "/v1/flavors")).toEqual([]);
    expect(actionsIn(doc, "/v1/nothing")).toEqual([]);
    expect(actionsIn(null, "/v1/hosts/{id}/actions")).toEqual([]);
  });
  it("stops on a reference loop", () => {
    const loop = { a: { $ref: "#/b" }, b: { $ref: "#/a" } };
    expect(deref(loop, { $ref: "#/a" })?.$ref).toBeDefined();
  });
});
