// problem+json onto forms (web/src/lib/problem.ts).
import { mapProblem, problemMessage, toProblem } from "../../../web/src/lib/problem";

const p = (status: number, detail?: string) => ({ status, title: "x", detail, type: "https://nubo.dev/problems/x", instance: "/v1/x" });

describe("mapProblem", () => {
  const fields = ["name", "flavor", "image", "keypair", "user_data", "count"];
  it("puts a 400 on the field its detail names", () => {
    expect(mapProblem(p(400, "count must be from 1 to 50"), fields)).toEqual({ fields: { count: "Count must be from 1 to 50." }, form: null });
    expect(mapProblem(p(400, "user_data is larger than 65536 bytes"), fields).fields).toHaveProperty("user_data");
    expect(mapProblem(p(400, "unknown field 'keypair'"), fields).fields).toHaveProperty("keypair");
  });
  it("uses aliases for the words the API uses", () => {
    const r = mapProblem(p(400, "instance name must start with a letter or a digit"), fields, { name: ["instance name"] });
    expect(r.fields).toHaveProperty("name");
  });
  it("picks the earliest field named", () => {
    const r = mapProblem(p(404, "no flavor 'x' for image 'y'"), fields);
    expect(Object.keys(r.fields)).toEqual(["flavor"]);
  });
  it("matches whole words only", () => {
    // "imagename" and "named" do not name the fields image and name
    const r = mapProblem(p(400, "imagename is named wrongly"), fields);
    expect(r).toEqual({ fields: {}, form: "Imagename is named wrongly." });
    const q = mapProblem(p(400, "public_key: the key data is not valid base64"), ["name", "public_key"]);
    // next to the field, its name is not repeated
    expect(q.fields).toEqual({ public_key: "The key data is not valid base64." });
  });
  it("sends other problems to the form", () => {
    expect(mapProblem(p(403, "only a cloud admin may create flavors"), ["name"])).toEqual({ fields: {}, form: "Only a cloud admin may create flavors." });
    expect(mapProblem(p(500, "name broke"), ["name"]).form).toBe("Name broke.");
    expect(mapProblem(p(409, "the quota of project p allows 2 more vcpus"), ["name"]).form).toMatch(/quota/);
  });
});

describe("toProblem and problemMessage", () => {
  it("reads a problem+json body", () => {
    const pr = toProblem(404, { type: "t", title: "Not Found", status: 404, detail: "no instance 'x'", instance: "/v1/instances/x" });
    expect(pr).toEqual({ type: "t", title: "Not Found", status: 404, detail: "no instance 'x'", instance: "/v1/instances/x" });
    expect(problemMessage(pr)).toBe("No instance 'x'.");
  });
  it("makes a problem of anything else", () => {
    expect(toProblem(502, null, "<html>Bad gateway</html>")).toMatchObject({ status: 502, title: "Bad Gateway" });
    expect(problemMessage({ status: 0 })).toMatch(/Cannot reach/);
    expect(problemMessage({ status: 403 })).toMatch(/not allowed/);
    expect(problemMessage({ status: 418, title: "Teapot" })).toBe("Teapot");
  });
});
