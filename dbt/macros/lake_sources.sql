{#- Spark has no file-reading sources: register each of this project's source tables as an external
    Parquet table over <lake>/<table>/ (written by `adp lake`). An on-run-start hook; a no-op elsewhere.
    `lake` is relative to the project dir unless absolute (or a URI such as s3a://bucket/lake). -#}
{% macro lake_sources(lake=var('lake_dir', '../data/lake')) -%}
  {%- if execute and target.type == 'spark' -%}
    {%- if not (lake.startswith('/') or ':/' in lake) -%}
      {%- set lake = invocation_args_dict.project_dir ~ '/' ~ lake -%}
    {%- endif -%}
    {%- for source in graph.sources.values() if source.package_name == project_name -%}
      {%- do run_query('create schema if not exists ' ~ source.schema) -%}
      {%- do run_query('drop table if exists ' ~ source.schema ~ '.' ~ source.identifier) -%}
      {%- do run_query('create table ' ~ source.schema ~ '.' ~ source.identifier
                       ~ " using parquet location '" ~ lake ~ '/' ~ source.identifier ~ "'") -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}
