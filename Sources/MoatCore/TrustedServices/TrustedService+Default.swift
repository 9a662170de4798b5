extension TrustedService {
    /// The catalog used when a document has no `trustedServices` of its own: Microsoft's published
    /// list of Key Vault trusted services, each with the identity it calls with (its resource's
    /// system-assigned managed identity, or its first-party application id where Microsoft
    /// documents one) and the operations its documented use needs. `docs/trusted-services.md`
    /// gives the sources. The same JSON ships as `deploy/trusted-services.json` (a test keeps the
    /// two equal), to copy and extend.
    static let defaultCatalog: [TrustedService] = {
        var reader = DocumentReader()
        let catalog = try! JSONValue(parsing: defaultCatalogJSON)
        let services = reader.trustedServices(catalog, JSONPath.root.appending("trustedServices"))!
        precondition(!reader.hasErrors, "the default trusted-services catalog is invalid")
        return services
    }()

    /// The default catalog as JSON: the `trustedServices` array.
    package static let defaultCatalogJSON = """
        [
          {
            "name": "Azure API Management",
            "resourceProvider": "Microsoft.ApiManagement/service",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets"
            ]
          },
          {
            "name": "Azure App Service",
            "applicationIds": [
              "abfa0a7c-a6b6-4736-8310-5855508787cd"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetSecret",
              "GetCertificate"
            ]
          },
          {
            "name": "Azure Application Gateway",
            "resourceProvider": "Microsoft.Network/applicationGateways",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret"
            ]
          },
          {
            "name": "Azure Backup",
            "applicationIds": [
              "262044b1-e2ce-469f-a196-69ab7ada62d3"
            ],
            "modes": [
              "subscription",
              "federated"
            ],
            "operations": [
              "GetKey",
              "GetKeys",
              "BackupKey",
              "GetSecret",
              "GetSecrets",
              "BackupSecret"
            ]
          },
          {
            "name": "Azure Backup (Recovery Services vault encryption)",
            "resourceProvider": "Microsoft.RecoveryServices/vaults",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Batch",
            "applicationIds": [
              "ddbf3205-c6bd-46ae-8127-60eb93363864"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets",
              "SetSecret",
              "DeleteSecret",
              "RecoverDeletedSecret"
            ]
          },
          {
            "name": "Azure Batch (account encryption)",
            "resourceProvider": "Microsoft.Batch/batchAccounts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure CDN and Front Door Standard/Premium",
            "applicationIds": [
              "205478c0-bd83-4e1b-a9d6-db63a3e1e1c8"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets",
              "GetCertificate",
              "GetCertificates"
            ]
          },
          {
            "name": "Azure CDN and Front Door Standard/Premium (managed identity)",
            "resourceProvider": "Microsoft.Cdn/profiles",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets",
              "GetCertificate",
              "GetCertificates"
            ]
          },
          {
            "name": "Azure Container Registry",
            "resourceProvider": "Microsoft.ContainerRegistry/registries",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Data Factory",
            "resourceProvider": "Microsoft.DataFactory/factories",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets",
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Data Lake Store",
            "resourceProvider": "Microsoft.DataLakeStore/accounts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "Encrypt",
              "Decrypt"
            ]
          },
          {
            "name": "Azure Data Manager for Agriculture",
            "resourceProvider": "Microsoft.AgFoodPlatform/farmBeats",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets"
            ]
          },
          {
            "name": "Azure Database for MySQL Single server",
            "resourceProvider": "Microsoft.DBforMySQL/servers",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Database for MySQL Flexible server",
            "resourceProvider": "Microsoft.DBforMySQL/flexibleServers",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "GetKeys",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Database for PostgreSQL Single server",
            "resourceProvider": "Microsoft.DBforPostgreSQL/servers",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Database for PostgreSQL Flexible server",
            "resourceProvider": "Microsoft.DBforPostgreSQL/flexibleServers",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "GetKeys",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Databricks",
            "applicationIds": [
              "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets",
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Disk Storage",
            "resourceProvider": "Microsoft.Compute/diskEncryptionSets",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Event Hubs",
            "resourceProvider": "Microsoft.EventHub/namespaces",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure ExpressRoute",
            "resourceProvider": "Microsoft.Network/expressRoutePorts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret"
            ]
          },
          {
            "name": "Azure Firewall Premium",
            "resourceProvider": "Microsoft.Network/firewallPolicies",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetCertificate"
            ]
          },
          {
            "name": "Azure Front Door Classic",
            "applicationIds": [
              "ad0e1c7e-6d38-4ba4-9efd-0bc77ba9f037"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetSecret",
              "GetCertificate"
            ]
          },
          {
            "name": "Azure Import/Export",
            "resourceProvider": "Microsoft.ImportExport/jobs",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Information Protection",
            "applicationIds": [
              "00000012-0000-0000-c000-000000000000"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetKey",
              "Decrypt",
              "Sign"
            ]
          },
          {
            "name": "Azure Machine Learning",
            "resourceProvider": "Microsoft.MachineLearningServices/workspaces",
            "modes": [
              "managedIdentity"
            ]
          },
          {
            "name": "Azure Monitor",
            "resourceProvider": "Microsoft.OperationalInsights/clusters",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure NetApp Files",
            "resourceProvider": "Microsoft.NetApp/netAppAccounts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "Encrypt",
              "Decrypt"
            ]
          },
          {
            "name": "Azure Service Bus",
            "resourceProvider": "Microsoft.ServiceBus/namespaces",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure SQL Database",
            "resourceProvider": "Microsoft.Sql/servers",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure SQL Managed Instance",
            "resourceProvider": "Microsoft.Sql/managedInstances",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Storage",
            "resourceProvider": "Microsoft.Storage/storageAccounts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Azure Synapse Analytics",
            "resourceProvider": "Microsoft.Synapse/workspaces",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Exchange Online",
            "applicationIds": [
              "00000002-0000-0ff1-ce00-000000000000"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "SharePoint Online",
            "applicationIds": [
              "00000003-0000-0ff1-ce00-000000000000"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Microsoft 365 data-at-rest encryption",
            "applicationIds": [
              "c066d759-24ae-40e7-a56f-027002b5d3e4"
            ],
            "modes": [
              "federated"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Microsoft Power Platform",
            "resourceProvider": "Microsoft.PowerPlatform/enterprisePolicies",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetKey",
              "WrapKey",
              "UnwrapKey"
            ]
          },
          {
            "name": "Microsoft Purview",
            "resourceProvider": "Microsoft.Purview/accounts",
            "modes": [
              "managedIdentity"
            ],
            "operations": [
              "GetSecret",
              "GetSecrets"
            ]
          }
        ]
        """
}
