import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "cache/**", "**/cache/**", "test/fixtures/**/cache/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
      // `{}` is the empty port record and the identity of conditional option types.
      "@typescript-eslint/no-empty-object-type": "off",
    },
  },
  { files: ["src/cli/**", "bench/**", "bin/**", "test/**"], rules: { "no-console": "off" } },
  { files: ["bin/**/*.js", "scripts/**/*.mjs", "src/**/*.mjs", "src/bundle/*.js"], languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } } },
);
