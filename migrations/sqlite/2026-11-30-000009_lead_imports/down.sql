DROP TABLE lead_import_chunks;
DROP TABLE lead_imports;
